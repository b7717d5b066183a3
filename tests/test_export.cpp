// Fold + verify + export of a trained run, the round trip through every format, refusal, and
// the independent checkers (OpenCV dnn, PyTorch, onnx.checker) in Debian's Python.
#include <torch/script.h>
#include <torch/torch.h>

#include <QtTest>

#include <QProcess>
#include <QTemporaryDir>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "data/data.h"
#include "nn/network.h"
#include "formats/run_files.h"
#include "repnas/engine.h"
#include "repnas/export.h"
#include "synthetic_data.h"

using namespace repnas;
namespace fs = std::filesystem;

namespace {

void writeFloats(const std::string& path, const torch::Tensor& t) {
  const auto c = t.contiguous().to(torch::kFloat);
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(c.data_ptr<float>()), c.numel() * sizeof(float));
}

}  // namespace

class TestExport : public QObject {
  Q_OBJECT
  QTemporaryDir tmp_;
  std::string data_, run_;

  fs::path path(const std::string& name) const { return fs::path(tmp_.path().toStdString()) / name; }

 private Q_SLOTS:
  void initTestCase() {
    QVERIFY(tmp_.isValid());
    data_ = path("data").string();
    fs::create_directories(data_);
    testing::writeIdxDataset(data_, 160, 120, 12, 12);
    // A short real search run: warm-up, search, fix, train.
    RunConfig c;
    c.dataset = "idx";
    c.data_dir = data_;
    c.epochs = 3;
    c.warmup_epochs = 1;
    c.search_epochs = 1;
    c.fixed_epochs = 1;
    c.batch_size = 32;
    c.threads = 1;
    c.arch_lr = 0.05;
    run_ = path("run").string();
    Engine engine(c, run_);
    const auto r = engine.run();
    QVERIFY2(r.status == "completed", r.message.c_str());
  }

  void exportWritesVerifiedFilesThatEvaluateTheSame() {
    ExportRequest req;
    req.run_dir = run_;
    req.onnx_path = path("m.onnx").string();
    req.torchscript_path = path("m.pt").string();
    req.spec_path = path("m.json").string();
    req.threads = 1;
    const auto result = exportRun(req);
    QVERIFY2(result.exported, result.message.c_str());
    const auto& r = result.report;
    QCOMPARE(r.images, int64_t(120));
    QVERIFY2(r.pass, r.summary().c_str());
    QVERIFY(r.max_abs_err <= r.tolerance);
    QCOMPARE(r.accuracy_folded, r.accuracy_multi_branch);
    QCOMPARE(result.written.size(), size_t(4));
    for (const auto& f : result.written) QVERIFY2(fs::exists(f), f.c_str());
    QVERIFY(fs::exists(path("m.safetensors")));

    const DatasetSpec data{"idx", data_};
    for (const auto& file : {req.onnx_path, req.torchscript_path, req.spec_path, run_}) {
      const auto e = evaluateExport(file, data, 0, 1);
      QCOMPARE(e.images, int64_t(120));
      QVERIFY2(std::abs(e.accuracy - r.accuracy_folded) < 1e-12, (file + " " + e.format).c_str());
    }

    // The spec says what a user must know.
    std::ifstream in(req.spec_path);
    const auto spec = nlohmann::json::parse(in);
    QCOMPARE(spec["input"]["channels"].get<int>(), 1);
    QCOMPARE(spec["input"]["mean"].size(), size_t(1));
    QCOMPARE(spec["layers"].size(), size_t(8));
    QVERIFY(spec["verification"]["pass"].get<bool>());
    int kept = 0;
    for (const auto& l : spec["layers"])
      for (const auto& k : l["kept"]) kept += k.get<std::string>() != "id";
    QCOMPARE(kept, 16);  // the budget
  }

  void torchScriptLoadsInCppAndMatchesTheTrainedNetwork() {
    auto module = torch::jit::load(path("m.pt").string());
    module.eval();
    const auto x = torch::randn({5, 1, 12, 12});
    const auto y = module.forward({x}).toTensor();
    // The same logits from the multi-branch network of the run, in eval mode.
    auto archive = readRunArchive((fs::path(run_) / "weights.pt").string());
    QVERIFY(archive.checked);
    const auto meta = nlohmann::json::parse(archive.meta);
    auto spec = backboneFor(configFromJson(meta["config"].dump()), 1, 12, 12, 10);
    Network net(spec);
    torch::serialize::InputArchive net_archive;
    archive.content.read("network", net_archive);
    net->load(net_archive);
    net->eval();
    torch::NoGradGuard no_grad;
    const auto expected = net->forward(x, maskFromBits(meta["mask"].get<std::vector<int>>()));
    const double scale = std::max(1.0, expected.abs().max().item<double>());
    QVERIFY((y - expected).abs().max().item<double>() <= 1e-5 * scale);
    QCOMPARE(module.attr("input_mean").toTensor().numel(), int64_t(1));
  }

  void independentRuntimesAgree() {
    const QString python = "/usr/bin/python3";
    if (!QFile::exists(python)) QSKIP("Debian's /usr/bin/python3 is not installed");
    auto module = torch::jit::load(path("m.pt").string());
    torch::manual_seed(11);
    const auto x = torch::randn({6, 1, 12, 12});
    torch::NoGradGuard no_grad;
    const auto y = module.forward({x}).toTensor();
    writeFloats(path("x.f32").string(), x);
    writeFloats(path("y.f32").string(), y);
    QProcess p;
    p.start(python, {QString(REPNAS_SOURCE_DIR) + "/tests/python/check_exports.py",
                     QString::fromStdString(path("m.onnx").string()),
                     QString::fromStdString(path("m.pt").string()),
                     QString::fromStdString(path("x.f32").string()),
                     QString::fromStdString(path("y.f32").string()), "6", "1", "12", "12", "10"});
    QVERIFY(p.waitForFinished(300000));
    const QString out = QString::fromUtf8(p.readAllStandardOutput() + p.readAllStandardError());
    qInfo().noquote() << out;
    if (p.exitCode() == 77) QSKIP(qPrintable(out.trimmed()));
    QVERIFY2(p.exitCode() == 0, qPrintable(out));
    QVERIFY(out.contains("opencv dnn (onnx)") && out.contains("torch.jit.load"));
  }

  void failedVerificationRefusesUnlessForced() {
    // Break one BN's running variance in a copy of the run: the eval-mode network now gives
    // NaN, which the verification must catch.
    const auto broken = path("broken");
    fs::create_directories(broken);
    fs::copy_file(fs::path(run_) / "config.json", broken / "config.json");
    {
      auto archive = readRunArchive((fs::path(run_) / "weights.pt").string());
      const c10::IValue meta(archive.meta);
      const auto meta_json = nlohmann::json::parse(archive.meta);
      auto spec = backboneFor(configFromJson(meta_json["config"].dump()), 1, 12, 12, 10);
      Network net(spec);
      torch::serialize::InputArchive net_archive;
      archive.content.read("network", net_archive);
      net->load(net_archive);
      torch::NoGradGuard g;
      // Layer 3's identity BN: always part of the folded layer, whichever branches were found.
      net->blocks_[3]->identity()->as<IdentityBranch>()->bn->running_var.fill_(-1);
      torch::serialize::OutputArchive out, out_net;
      out.write("meta", meta);
      net->save(out_net);
      out.write("network", out_net);
      out.save_to((broken / "weights.pt").string());  // format 1: still read (unchecked)
    }
    ExportRequest req;
    req.run_dir = broken.string();
    req.onnx_path = path("broken.onnx").string();
    req.threads = 1;
    auto result = exportRun(req);
    QVERIFY(!result.exported);
    QVERIFY2(QString::fromStdString(result.message).contains("refusing to export"), result.message.c_str());
    QVERIFY(!fs::exists(req.onnx_path));
    req.force = true;
    result = exportRun(req);
    QVERIFY(result.exported);
  }

  // Ctrl+C or SIGTERM reaches an export as `cancelled`: asked after loading and between the
  // verification batches. Cancelled at each of those points in turn, the export writes nothing.
  void cancelledExportWritesNothingAtEveryPoint() {
    ExportRequest req;
    req.run_dir = run_;
    req.onnx_path = path("c.onnx").string();
    req.torchscript_path = path("c.pt").string();
    req.spec_path = path("c.json").string();
    req.threads = 1;
    int asked = 0;
    req.cancelled = [&] { ++asked; return false; };
    QVERIFY(exportRun(req).exported);
    QVERIFY2(asked >= 3, "asked after loading, per verification batch and before writing");
    for (const auto& f : {"c.onnx", "c.pt", "c.json", "c.safetensors"}) fs::remove(path(f));
    for (int at = 1; at <= asked; ++at) {
      int calls = 0;
      req.cancelled = [&] { return ++calls == at; };
      const auto result = exportRun(req);
      QVERIFY(result.cancelled);
      QVERIFY(!result.exported);
      QCOMPARE(QString::fromStdString(result.message), QString("cancelled: nothing was written"));
      QVERIFY(result.written.empty());
      for (const auto& f : {"c.onnx", "c.pt", "c.json", "c.safetensors"})
        QVERIFY2(!fs::exists(path(f)), f);
    }
  }

  void unwritablePathIsAClearErrorAndLeavesNothing() {
    ExportRequest req;
    req.run_dir = run_;
    req.onnx_path = path("no/such/dir/m.onnx").string();
    req.threads = 1;
    try {
      exportRun(req);
      QFAIL("expected an error");
    } catch (const Error& e) {
      QVERIFY2(QString(e.what()).contains("cannot write") && QString(e.what()).contains("m.onnx"), e.what());
    }
    QVERIFY(!fs::exists(path("no")));
    // Nothing half-written next to a good file either.
    for (const auto& entry : fs::directory_iterator(tmp_.path().toStdString()))
      QVERIFY2(entry.path().string().find(".tmp") == std::string::npos, entry.path().c_str());
  }

  void notARunIsAClearError() {
    ExportRequest req;
    req.run_dir = data_;
    req.onnx_path = path("x.onnx").string();
    QVERIFY_THROWS_EXCEPTION(Error, exportRun(req));
    QVERIFY_THROWS_EXCEPTION(Error, evaluateExport(path("nothing.onnx").string(), {"idx", data_}));
  }
};

QTEST_GUILESS_MAIN(TestExport)
#include "test_export.moc"
