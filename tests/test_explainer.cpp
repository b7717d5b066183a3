// The teaching view offscreen: each step page shows the core's numbers, the proof is exact on a
// real (synthetic IDX) image and the counter-examples break it where they should, edits are
// undoable, and every page exports to PNG/PDF/text that is not blank.
#include <QtTest>

#include <QCheckBox>
#include <QComboBox>
#include <QClipboard>
#include <QGuiApplication>
#include <QImage>
#include <QLabel>
#include <QSpinBox>
#include <QTemporaryDir>
#include <QUndoStack>

#include <set>

#include "repnas/engine.h"
#include "repnas/explain.h"
#include "repnas_ui/block_inspector.h"
#include "repnas_ui/explainer_view.h"
#include "repnas_ui/main_window.h"
#include "synthetic_data.h"

using namespace repnas;

namespace {

void saveShot(QWidget& w, const QString& name) {
  QTest::qWait(150);  // as a person sees it: layouts settled, throttled redraws done
  QVERIFY(w.grab().save(QString(REPNAS_TEST_OUTPUT_DIR) + "/" + name + ".png"));
}

/// The matrices a step shows, in the order the page lays them out.
std::vector<const ExplainMatrix*> stepMatrices(const ExplainStep& step) {
  std::vector<const ExplainMatrix*> out;
  for (const auto& item : step.items) {
    for (const auto& m : item.inputs) out.push_back(&m);
    for (const auto& m : item.outputs) out.push_back(&m);
  }
  return out;
}

/// Distinct colours in an image: a blank export has one or two.
int distinctColours(const QImage& img) {
  std::set<QRgb> colours;
  for (int y = 0; y < img.height(); y += 3)
    for (int x = 0; x < img.width(); x += 3) colours.insert(img.pixel(x, y));
  return static_cast<int>(colours.size());
}

}  // namespace

class TestExplainer : public QObject {
  Q_OBJECT
  QTemporaryDir tmp_;
  QString data_;

 private Q_SLOTS:
  void initTestCase() {
    QCoreApplication::setOrganizationName("RepNAS-tests");
    QCoreApplication::setApplicationName("test_explainer");
    data_ = tmp_.filePath("data");
    QDir().mkpath(data_);
    testing::writeIdxDataset(data_.toStdString(), 64, 20, 16, 16);
  }

  void stepPagesShowTheCoreNumbers() {
    ui::ExplainerView view;
    view.resize(1300, 900);
    view.setDataset("idx", data_);
    view.show();
    view.setChannels(1, 0);
    // An independent explainer on the same demo block gives the numbers each page must show.
    const auto core = ReparamExplainer::demo({}).steps(1, 0);
    for (int p = 0; p < 6; ++p) {
      view.setPage(p);
      QCOMPARE(view.page(), p);
      const auto expected = stepMatrices(core[p]);
      const auto shown = view.pageHeatmaps();
      QCOMPARE(shown.size(), static_cast<qsizetype>(expected.size()));
      for (int k = 0; k < shown.size(); ++k) QCOMPARE(shown[k]->values(), expected[k]->values);
      QVERIFY(view.pageText().contains(QString::fromStdString(core[p].formula)));
      saveShot(view, QStringLiteral("explain_step%1").arg(p + 1));
    }
    view.copyText();
    QVERIFY(QGuiApplication::clipboard()->text().contains("Step 6"));
  }

  void proofIsExactAndBreaksWhereItShould() {
    ui::ExplainerView view;
    view.resize(1300, 900);
    view.setDataset("idx", data_);
    view.show();
    view.setPage(ui::ExplainerView::kProofPage);
    QVERIFY(view.proof().has_value());
    const auto& proof = *view.proof();
    QVERIFY(proof.max_abs_difference < 1e-5 * proof.max_abs_output);
    QVERIFY(view.summaryLabel()->text().contains("equal up to float32 rounding"));
    const auto images = view.pageImages();
    QCOMPARE(images.size(), 4);
    QCOMPARE(images[3]->image().values, proof.difference.values);
    QCOMPARE(images[0]->image().height, 16);
    saveShot(view, "explain_proof");

    view.setPage(ui::ExplainerView::kBreakPage);
    QVERIFY(view.zeroPaddingBox()->isVisible());
    view.zeroPaddingBox()->setChecked(true);
    QVERIFY(view.proof()->border_max > 1e-2);
    QVERIFY(view.proof()->interior_max < 1e-5 * view.proof()->max_abs_output);
    QVERIFY(view.summaryLabel()->text().contains("they differ"));
    saveShot(view, "explain_break_padding");
    view.zeroPaddingBox()->setChecked(false);
    view.batchStatisticsBox()->setChecked(true);
    QVERIFY(view.proof()->interior_max > 1e-2);
    saveShot(view, "explain_break_statistics");
    view.batchStatisticsBox()->setChecked(false);
    QVERIFY(view.proof()->max_abs_difference < 1e-5 * view.proof()->max_abs_output);

    // A data folder without the files: a clear message, no numbers made up.
    view.setDataset("idx", tmp_.filePath("missing"));
    QVERIFY(!view.proof().has_value());
  }

  void proofOnFashionMnist() {
    // The real data set when installed (the README's screenshots come from here).
    if (!QFileInfo::exists(QString(kDefaultFashionMnistDir) + "/t10k-images-idx3-ubyte.gz"))
      QSKIP("dataset-fashion-mnist is not installed");
    ui::ExplainerView view;
    view.resize(1300, 820);
    view.setDataset("fashion-mnist", "");
    view.show();
    view.sampleSpin()->setValue(0);
    view.setPage(ui::ExplainerView::kProofPage);
    QVERIFY(view.proof().has_value());
    QVERIFY(QString::fromStdString(view.proof()->input_source).contains("Ankle boot"));
    QCOMPARE(view.proof()->input.height, 28);
    QVERIFY(view.proof()->max_abs_difference < 1e-5 * view.proof()->max_abs_output);
    saveShot(view, "explain_proof_fashion_mnist");
    view.setPage(ui::ExplainerView::kBreakPage);
    view.zeroPaddingBox()->setChecked(true);
    QVERIFY(view.proof()->border_max > 1e-2);
    saveShot(view, "explain_break_fashion_mnist");
  }

  void editsAreUndoable() {
    ui::ExplainerView view;
    view.show();
    const double before = view.steps()[0].items[0].inputs[0].values[4];
    QVERIFY(view.setValue("KxK.conv.weight", 4, 0.5));
    QCOMPARE(view.steps()[0].items[0].inputs[0].values[4], 0.5);
    QVERIFY(!view.setValue("KxK.bn.running_var", 0, -2));  // refused, with the reason
    QVERIFY(view.messageLabel()->text().contains("positive"));
    view.branchBox(static_cast<int>(BranchKind::OneByOneAvg))->setChecked(false);
    QVERIFY(view.steps()[2].items.empty());
    QCOMPARE(view.undoStack()->count(), 2);
    view.undoStack()->undo();  // the branch comes back
    QCOMPARE(view.steps()[2].items.size(), size_t(1));
    QVERIFY(view.branchBox(static_cast<int>(BranchKind::OneByOneAvg))->isChecked());
    view.undoStack()->undo();  // the typed value is gone
    QCOMPARE(view.steps()[0].items[0].inputs[0].values[4], before);
    view.undoStack()->redo();
    QCOMPARE(view.steps()[0].items[0].inputs[0].values[4], 0.5);
    // K = 5: 5×5 kernels, an exact proof, and undo brings K = 3 back.
    view.demoKernelBox()->setCurrentIndex(view.demoKernelBox()->findData(5));
    QCOMPARE(view.steps()[0].items[0].inputs[0].rows, 5);
    QCOMPARE(view.branchBox(static_cast<int>(BranchKind::OneByK))->text(), QString("1x5"));
    view.undoStack()->undo();
    QCOMPARE(view.steps()[0].items[0].inputs[0].rows, 3);
    view.randomize(7);
    QVERIFY(view.steps()[0].items[0].inputs[0].values[4] != 0.5);
    view.undoStack()->undo();
    QCOMPARE(view.steps()[0].items[0].inputs[0].values[4], 0.5);
  }

  void exportsAreFilesWithContent() {
    ui::ExplainerView view;
    view.resize(1300, 900);
    view.setDataset("idx", data_);
    view.show();
    const QString dir = tmp_.filePath("export");
    QCOMPARE(view.exportAll(dir), QString());
    for (int p = 1; p <= ui::ExplainerView::kPageCount; ++p) {
      QImage img(QDir(dir).filePath(QStringLiteral("page%1.png").arg(p)));
      QVERIFY(!img.isNull());
      QVERIFY2(distinctColours(img) > 20, qPrintable(QString::number(p)));
    }
    QFile pdf(QDir(dir).filePath("reparameterization.pdf"));
    QVERIFY(pdf.open(QIODevice::ReadOnly));
    const auto bytes = pdf.readAll();
    QVERIFY(bytes.startsWith("%PDF"));
    QVERIFY(bytes.count("/Type /Page\n") + bytes.count("/Type /Page ") + bytes.count("/Type /Page>") >= 1);
    QVERIFY(bytes.size() > 20000);
    QFile text(QDir(dir).filePath("reparameterization.txt"));
    QVERIFY(text.open(QIODevice::ReadOnly));
    const auto t = QString::fromUtf8(text.readAll());
    QVERIFY(t.contains("Step 1") && t.contains("Step 6") && t.contains("Proof on"));
    view.setPage(3);
    QCOMPARE(view.exportPage(tmp_.filePath("step4.pdf")), QString());
    QVERIFY(QFileInfo(tmp_.filePath("step4.pdf")).size() > 5000);
    QCOMPARE(view.exportPage(tmp_.filePath("step4.png")), QString());
    QVERIFY(distinctColours(QImage(tmp_.filePath("step4.png"))) > 20);
    QVERIFY(!view.exportPage("/proc/no/such/dir/x.png").isEmpty());
  }

  void runLayersInTheMainWindow() {
    // A tiny finished run; the window's tab explains its layers with their own activations.
    const std::string run = tmp_.filePath("run").toStdString();
    RunConfig c;
    c.mode = "dbb";
    c.dataset = "idx";
    c.data_dir = data_.toStdString();
    c.epochs = 1;
    c.batch_size = 32;
    c.eval_batch_size = 20;
    c.threads = 1;
    QDir().mkpath(QString::fromStdString(run));
    {
      Engine engine(c, run);
      EventLogWriter log(run + "/events.jsonl", false);
      engine.addObserver(&log);
      QCOMPARE(QString::fromStdString(engine.run().status), QString("completed"));
    }
    ui::MainWindow window;
    window.resize(1500, 950);
    window.show();
    QVERIFY(window.openRun(QString::fromStdString(run)));
    auto* view = window.explainerView();
    window.tabs()->setCurrentWidget(view);
    QVERIFY(view->useRunLayer(2));
    QVERIFY(!view->isDemo());
    view->setPage(5);
    const auto fused = ReparamExplainer::fromRun(run, 2).coreFused();
    const auto shown = view->pageHeatmaps().last()->values();
    const auto expected = fused.slice(0, 0);
    QCOMPARE(shown.size(), expected.size());
    for (size_t k = 0; k < shown.size(); ++k)  // the same sum in another order: last-bit equal
      QVERIFY(std::abs(shown[k] - expected[k]) < 1e-12);
    view->setPage(ui::ExplainerView::kProofPage);
    QVERIFY(view->proof().has_value());
    QVERIFY(view->proof()->max_abs_difference < 1e-5 * std::max(1.0, view->proof()->max_abs_output));
    QCOMPARE(view->proof()->folded.height, 8);  // layer 2 has stride 2
    saveShot(window, "explain_run_layer");
    QVERIFY(!view->useRunLayer(99));
    QVERIFY(view->messageLabel()->text().contains("does not exist"));
  }
};

QTEST_MAIN(TestExplainer)
#include "test_explainer.moc"
