// Strategies side by side (issue 19): the comparison's arithmetic against hand-computed values,
// its request and trials, and `repnas compare` end to end on tiny synthetic data — every trial a
// valid run folder, the table computed from them, resume after a kill, --print-commands to the
// same result.
#include <QtTest>

#include <QDir>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QTemporaryDir>

#include <sys/stat.h>

#include <cmath>
#include <fstream>
#include <map>

#include "repnas/comparison.h"
#include "repnas/error.h"
#include "repnas/events.h"
#include "cli_test_util.h"
#include "synthetic_data.h"

using namespace repnas;

namespace {

QJsonObject readJson(const QString& path) { return repnas::testing::readJsonFile(path); }
repnas::testing::Run repnasCli(const QStringList& args) { return repnas::testing::runCli(args); }

std::vector<BranchMask> masks(std::initializer_list<const char*> bits) {
  std::vector<BranchMask> out;
  for (const char* b : bits) out.emplace_back(std::string(b));
  return out;
}

}  // namespace

class TestCompare : public QObject {
  Q_OBJECT
  QTemporaryDir tmp_;
  QString data_;

  /// The request every end-to-end comparison here makes: two strategies, two seeds, one random
  /// mask and plain per seed, a few steps per run.
  QStringList request() const {
    QStringList args = {"--strategies", "repnas,gdas", "--seeds", "1,2", "--random", "1", "--baselines", "plain"};
    for (const QString& kv : QStringList{"dataset=idx", "data_dir=" + data_, "epochs=3", "warmup_epochs=1", "search_epochs=1",
                              "fixed_epochs=1", "batch_size=32", "threads=1", "arch_lr=0.05"})
      args << "--set" << kv;
    return args;
  }

  /// Test accuracy (%) per trial folder, from each trial's own summary.
  static std::map<QString, double> trialAccuracies(const QString& root) {
    std::map<QString, double> out;
    for (const auto& seed : QDir(root).entryList({"protocol-seed*"}, QDir::Dirs))
      for (const auto& trial : QDir(root + "/" + seed).entryList(QDir::Dirs | QDir::NoDotAndDotDot)) {
        const auto j = readJson(root + "/" + seed + "/" + trial + "/trial.json");
        if (!j.isEmpty()) out[seed + "/" + trial] = 100 * j["test_accuracy"].toDouble();
      }
    return out;
  }

 private Q_SLOTS:
  void initTestCase() {
    QVERIFY(tmp_.isValid());
    data_ = tmp_.filePath("data");
    QDir().mkpath(data_);
    repnas::testing::writeIdxDataset(data_.toStdString(), 320, 60);
  }

  void arithmeticMatchesHandComputedValues() {
    // Mean and sample std: {1,2,3,4} -> 2.5 and sqrt(5/3).
    const auto [m, s] = meanStd({1, 2, 3, 4});
    QCOMPARE(m, 2.5);
    QVERIFY(std::abs(s - std::sqrt(5.0 / 3.0)) < 1e-12);
    QCOMPARE(meanStd({7}).second, 0.0);
    // Pooled std of {1,2,3} (var 1) and {2,4,6,8} (var 20/3): sqrt((2·1 + 3·20/3) / 5) = sqrt(4.4).
    QVERIFY(std::abs(pooledStd({1, 2, 3}, {2, 4, 6, 8}) - std::sqrt(4.4)) < 1e-12);
    QCOMPARE(pooledStd({1}, {2}), 0.0);  // no degrees of freedom
    // Kendall's τ: one discordant pair of six -> (5 − 1) / 6.
    QVERIFY(std::abs(*kendallTau({1, 2, 3, 4}, {1, 3, 2, 4}) - 4.0 / 6.0) < 1e-12);
    QVERIFY(std::abs(*kendallTau({1, 2, 3}, {3, 2, 1}) + 1.0) < 1e-12);
    // τ-b with a tie in each: 4 concordant, 0 discordant, 5 untied pairs in each -> 4/5.
    QVERIFY(std::abs(*kendallTau({1, 1, 2, 3}, {1, 2, 3, 3}) - 0.8) < 1e-12);
    QVERIFY(!kendallTau({1, 1, 1}, {1, 2, 3}));
    QVERIFY(!kendallTau({1}, {1}));
    // Hamming distances of (layer, branch) masks; the mean over pairs.
    const auto a = masks({"000011", "100001"}), b = masks({"000111", "100001"}), c = masks({"110000", "000001"});
    QCOMPARE(hammingDistance(a, a), 0);
    QCOMPARE(hammingDistance(a, b), 1);
    QCOMPARE(hammingDistance(a, c), 5);
    QCOMPARE(hammingDistance(b, c), 6);
    QCOMPARE(*meanPairwiseHamming({a, b, c}), 4.0);
    QVERIFY(!meanPairwiseHamming({a}));
    QVERIFY_THROWS_EXCEPTION(Error, hammingDistance(a, masks({"000011"})));
    // Keep frequency per (layer, branch) over the three: layer 0 keeps bit 0 in a and b.
    const auto freq = keepFrequency({a, b, c});
    QCOMPARE(int(freq.size()), 2);
    QVERIFY(std::abs(freq[0][0] - 2.0 / 3) < 1e-12 && std::abs(freq[0][2] - 1.0 / 3) < 1e-12);
    QCOMPARE(freq[0][3], 0.0);
    QCOMPARE(freq[1][0], 1.0);
    QVERIFY(std::abs(freq[1][5] - 2.0 / 3) < 1e-12);
    // The Pareto front (cheaper and more accurate wins), by cost; a tie in cost keeps the better.
    const auto front = paretoFront({3, 1, 2, 4, 2, 5}, {80, 70, 75, 85, 74, 60});
    QCOMPARE(front, (std::vector<size_t>{1, 2, 0, 3}));
    QVERIFY(paretoFront({}, {}).empty());
    // The configuration keys that differ (absent counts as different).
    QCOMPARE(differingConfigKeys({R"({"a": 1, "b": 2})", R"({"a": 1, "b": 3, "c": 1})"}),
             (std::vector<std::string>{"b", "c"}));
    QVERIFY(differingConfigKeys({R"({"a": 1})", R"({"a": 1})"}).empty());
    // A key only another strategy reads is no difference; between two GDAS runs it is.
    const char* repnas_run = R"({"strategy": "search", "gdas_tau_start": 10, "noise_start": 1})";
    const char* gdas_run = R"({"strategy": "gdas", "gdas_tau_start": 5, "noise_start": 1})";
    const char* gdas_run2 = R"({"strategy": "gdas", "gdas_tau_start": 10, "noise_start": 1})";
    QVERIFY(!configKeyApplies(repnas_run, "gdas_tau_start") && configKeyApplies(gdas_run, "gdas_tau_start"));
    QVERIFY(configKeyApplies(repnas_run, "seed"));
    QCOMPARE(differingConfigKeys({repnas_run, gdas_run}), (std::vector<std::string>{"strategy"}));
    QCOMPARE(differingConfigKeys({repnas_run, gdas_run, gdas_run2}), (std::vector<std::string>{"gdas_tau_start", "strategy"}));
    QCOMPARE(QString::fromStdString(configValueText(R"({"strategy": "gdas", "lr": 0.05})", "strategy")), QString("gdas"));
    QCOMPARE(QString::fromStdString(configValueText(R"({"strategy": "gdas", "lr": 0.05})", "lr")), QString("0.05"));
  }

  void eventLogsAreReadBoundedAndTornLinesSkipped() {
    // Two good events around a torn line and a line past kMaxEventLineBytes; a FIFO is not read.
    const auto path = tmp_.filePath("events.jsonl").toStdString();
    RunFinished done;
    done.status = "completed";
    done.test_accuracy = 0.5;
    {
      std::ofstream out(path, std::ios::binary);
      out << eventToJson(Event{done}) << "\n" << "{\"type\": \"finished\", \"sta" << "\n"
          << std::string(kMaxEventLineBytes + 10, 'x') << "\n" << eventToJson(Event{done});  // no final newline
    }
    int read = 0;
    forEachLoggedEvent(path, [&](const Event& e) { read += std::holds_alternative<RunFinished>(e); });
    QCOMPARE(read, 2);
    const auto fifo = tmp_.filePath("fifo").toStdString();
    QCOMPARE(mkfifo(fifo.c_str(), 0600), 0);
    forEachLoggedEvent(fifo, [&](const Event&) { ++read; });  // returns at once
    QCOMPARE(read, 2);
    forEachLoggedEvent(tmp_.filePath("missing").toStdString(), [&](const Event&) { ++read; });
    QCOMPARE(read, 2);
  }

  void requestAndTrials() {
    ComparisonRequest r;
    r.strategies = {"search", "gdas"};
    r.seeds = {1, 2};
    r.random_masks = 2;
    r.baselines = {"plain", "dbb"};
    validateComparison(r);
    const auto trials = comparisonTrials(r);
    QCOMPARE(int(trials.size()), 2 * (2 + 2 + 2 + 2));
    // The searches come first, each retraining after its search; the folders are the protocol's.
    std::map<std::string, size_t> at;
    for (size_t i = 0; i < trials.size(); ++i) at[trials[i].dir] = i;
    QCOMPARE(int(at.size()), int(trials.size()));
    for (const char* dir : {"protocol-seed1/search", "protocol-seed1/retrained", "protocol-seed2/gdas",
                            "protocol-seed2/gdas-retrained", "protocol-seed1/random2", "protocol-seed2/dbb"})
      QVERIFY2(at.count(dir), dir);
    for (const auto& t : trials)
      if (!t.after.empty()) QVERIFY(at.at(t.after) < at.at(t.dir));
    QCOMPARE(QString::fromStdString(comparisonTrial(r, "protocol-seed2/gdas-retrained").after),
             QString("protocol-seed2/gdas"));
    QVERIFY_THROWS_EXCEPTION(Error, comparisonTrial(r, "protocol-seed3/gdas"));
    // A random mask's run has its own seed; the config of each kind.
    const auto random = comparisonTrialConfig(r, comparisonTrial(r, "protocol-seed2/random2"), tmp_.path().toStdString());
    QCOMPARE(random.seed, std::uint64_t(2002));
    QCOMPARE(QString::fromStdString(random.mode), QString("odbb"));
    QVERIFY(random.mask.kind == MaskSetting::Kind::Random);
    // A retraining before its search has finished is refused, naming the folder.
    try {
      comparisonTrialConfig(r, comparisonTrial(r, "protocol-seed1/retrained"), tmp_.path().toStdString());
      QFAIL("a retraining without its search was configured");
    } catch (const Error& e) {
      QVERIFY2(QString(e.what()).contains("protocol-seed1/search"), e.what());
    }
    // JSON round trip; bad requests name the field.
    const auto back = comparisonRequestFromJson(comparisonRequestToJson(r));
    QVERIFY(back.strategies == r.strategies && back.seeds == r.seeds && back.baselines == r.baselines &&
            back.random_masks == r.random_masks);
    auto refused = [&](ComparisonRequest bad, const char* field) {
      try {
        validateComparison(bad);
        QFAIL(qPrintable(QString("accepted a bad %1").arg(field)));
      } catch (const Error& e) {
        QVERIFY2(QString(e.what()).startsWith(field), e.what());
      }
    };
    auto bad = r;
    bad.strategies = {"plain"};
    refused(bad, "strategies");
    bad = r;
    bad.strategies = {"gdas", "gdas"};
    refused(bad, "strategies");
    bad = r;
    bad.seeds = {};
    refused(bad, "seeds");
    bad = r;
    bad.baselines = {"search"};
    refused(bad, "baselines");
    bad = r;
    bad.overrides = {"seed=4"};
    refused(bad, "--set seed");
    bad.overrides = {"mode=plain"};  // the key's name before config version 3
    refused(bad, "--set mode");
    QVERIFY_THROWS_EXCEPTION(Error, comparisonRequestFromJson("{\"format\": \"repnas-comparison-9\"}"));
    QVERIFY_THROWS_EXCEPTION(Error, comparisonRequestFromJson("[1"));
    // A folder holds one comparison: another request there is refused.
    const auto root = tmp_.filePath("one-request").toStdString();
    saveComparison(r, root);
    saveComparison(r, root);  // the same: fine
    auto other = r;
    other.seeds = {1, 2, 3};
    QVERIFY_THROWS_EXCEPTION(Error, saveComparison(other, root));
    other = r;
    other.hant = ComparisonHant{};
    QVERIFY_THROWS_EXCEPTION(Error, saveComparison(other, root));

    // HANT: one trial per seed after its teacher, the seed's plain baseline (which it needs);
    // its options round-trip and are checked.
    auto with_hant = r;
    with_hant.hant = ComparisonHant{};
    setComparisonHantOption(*with_hant.hant, "sweep=1.5/2.5");
    setComparisonHantOption(*with_hant.hant, "distill_steps=7");
    QVERIFY(with_hant.hant->sweep == std::vector<double>({1.5, 2.5}));
    const auto hant_trials = comparisonTrials(with_hant);
    QCOMPARE(int(hant_trials.size()), int(trials.size()) + 2);
    const auto hant = comparisonTrial(with_hant, "protocol-seed2/hant");
    QVERIFY(hant.kind == ComparisonTrial::Kind::Hant);
    QCOMPARE(QString::fromStdString(hant.after), QString("protocol-seed2/plain"));
    const auto hant_back = comparisonRequestFromJson(comparisonRequestToJson(with_hant));
    QVERIFY(hant_back.hant && *hant_back.hant == *with_hant.hant);
    QVERIFY(!finishedComparisonTrial(with_hant, hant, tmp_.path().toStdString()));
    for (const char* kv : {"speedup=1", "speedup=fast", "repeats=0", "sweep=2/0.5", "steps=3", "batch"}) {
      auto h = *with_hant.hant;
      QVERIFY_THROWS_EXCEPTION(Error, setComparisonHantOption(h, kv));
    }
    bad = with_hant;
    bad.baselines = {"dbb"};
    refused(bad, "strategies: hant");
  }

  void hantTrialsTransformEachSeedsPlainBaseline() {
    // HANT beside one strategy: per seed the plain baseline, then HANT on it (a few steps).
    const QString dir = tmp_.filePath("cmp-hant");
    QStringList args = {"compare", "--out", dir, "--strategies", "repnas,hant", "--seeds", "1,2", "--random", "0",
                        "--baselines", "plain"};
    for (const QString& kv : QStringList{"distill_steps=20", "finetune_steps=4", "fit_students=6", "repeats=2", "batch=32",
                              "sweep=1.2/2"})
      args << "--hant-set" << kv;
    for (const QString& kv : QStringList{"dataset=idx", "data_dir=" + data_, "epochs=2", "warmup_epochs=1", "search_epochs=1",
                                         "fixed_epochs=1", "batch_size=32", "threads=1"})
      args << "--set" << kv;
    const auto r = repnasCli(args);
    QVERIFY2(r.exit_code == 0, r.err.constData());
    const auto table = readJson(dir + "/comparison-table.json");
    QCOMPARE(table["complete"].toBool(), true);
    QJsonObject hant_row, plain_row;
    for (const auto& row : table["rows"].toArray()) {
      if (row.toObject()["group"].toString() == "hant") hant_row = row.toObject();
      if (row.toObject()["group"].toString() == "plain") plain_row = row.toObject();
    }
    QCOMPARE(hant_row["kind"].toString(), QString("hant"));
    QCOMPARE(hant_row["n"].toInt(), 2);
    // The row from the trials' own files: each student's test accuracy and measured latency
    // (hant.json), the speed-up over the teacher measured beside it.
    double accuracy = 0, latency = 0, speedup = 0;
    for (const char* seed : {"protocol-seed1", "protocol-seed2"}) {
      const QString trial = dir + "/" + seed + "/hant";
      const auto hant = readJson(trial + "/hant.json");
      QVERIFY2(!hant.isEmpty(), qPrintable(trial));
      QCOMPARE(QFileInfo(hant["teacher"].toString()).fileName(), QString("plain"));
      QCOMPARE(hant["sweep"].toArray().size(), 2);
      accuracy += 100 * hant["student_test_accuracy"].toDouble() / 2;
      const auto chosen = hant["chosen"].toObject();
      latency += chosen["measured_ms"].toDouble() / 2;
      speedup += chosen["teacher_measured_ms"].toDouble() / chosen["measured_ms"].toDouble() / 2;
      for (const char* f : {"student.onnx", "student.pt", "trial.json"}) QVERIFY2(QFile::exists(trial + "/" + f), f);
      const auto summary = readHantSummary(trial.toStdString());
      QVERIFY(summary && summary->backbone == "tiny" && summary->student_ms && summary->sweep.size() == 2);
    }
    QVERIFY(std::abs(hant_row["test_accuracy_mean"].toDouble() - accuracy) < 1e-9);
    QVERIFY(std::abs(hant_row["latency_ms"].toDouble() - latency) < 1e-9);
    QVERIFY(std::abs(hant_row["speedup"].toDouble() - speedup) < 1e-9);
    bool against_plain = false;
    for (const auto& v : table["verdicts"].toArray())
      if (v.toObject()["a"].toString() == "hant" && v.toObject()["b"].toString() == "plain") {
        against_plain = true;
        QVERIFY(std::abs(v.toObject()["difference"].toDouble() -
                         (accuracy - plain_row["test_accuracy_mean"].toDouble())) < 1e-9);
      }
    QVERIFY(against_plain);
    QVERIFY2(r.out.contains("hant: the students measured at"), r.out.constData());
    // The runs' catalogue leaves HANT's folders out; the HANT catalogue finds them.
    QCOMPARE(int(findRunFolders(dir.toStdString()).size()), 6);
    QCOMPARE(int(findHantFolders(dir.toStdString()).size()), 2);
    QCOMPARE(int(findHantFolders(tmp_.path().toStdString()).size()), 2);
    // Run again: everything reused, HANT included.
    const auto again = repnasCli(QStringList{"compare", "--out", dir});
    QVERIFY2(again.exit_code == 0, again.err.constData());
    QVERIFY2(again.out.contains("8 trials finished earlier, reused"), again.out.constData());
    // Usage: HANT's options need hant among the strategies; a bad option is named.
    auto bad = repnasCli({"compare", "--out", tmp_.filePath("bad-hant"), "--hant-set", "speedup=2"});
    QCOMPARE(bad.exit_code, 2);
    QVERIFY2(bad.err.contains("--hant-set needs hant"), bad.err.constData());
    bad = repnasCli({"compare", "--out", tmp_.filePath("bad-hant"), "--strategies", "hant", "--hant-set", "speedup=0.5"});
    QCOMPARE(bad.exit_code, 2);
    QVERIFY2(bad.err.contains("speedup"), bad.err.constData());
  }

  void compareRunsResumesAfterAKillAndPrintsTheSameCommands() {
    // A comparison, killed once some trials have finished, then resumed to the end.
    const QString dir = tmp_.filePath("cmp");
    QProcess killed;
    killed.start(REPNAS_CLI, QStringList{"compare", "--out", dir, "--jobs", "2"} + request());
    QVERIFY(killed.waitForStarted());
    QElapsedTimer clock;
    clock.start();
    while (trialAccuracies(dir).size() < 3 && clock.elapsed() < 300000 && killed.state() == QProcess::Running)
      QTest::qWait(100);
    QVERIFY2(killed.state() == QProcess::Running, killed.readAllStandardError().constData());
    killed.kill();
    QVERIFY(killed.waitForFinished());
    const auto before = trialAccuracies(dir);
    QVERIFY(before.size() >= 3 && before.size() < 12);
    const auto resumed = repnasCli({"compare", "--out", dir, "--jobs", "2"});  // the saved request
    QVERIFY2(resumed.exit_code == 0, resumed.err.constData());
    QVERIFY2(resumed.out.contains("trials finished earlier, reused"), resumed.out.constData());
    const auto after = trialAccuracies(dir);
    QCOMPARE(int(after.size()), 12);
    for (const auto& [trial, accuracy] : before) QCOMPARE(after.at(trial), accuracy);  // kept, not re-run
    // Every trial a normal run folder.
    for (const auto& [trial, accuracy] : after) {
      for (const char* f : {"config.json", "events.jsonl", "weights.pt", "arch.json", "trial.json"})
        QVERIFY2(QFile::exists(dir + "/" + trial + "/" + f), qPrintable(trial + "/" + f));
      QVERIFY2(accuracy > 0 && accuracy <= 100, qPrintable(trial + ": " + QString::number(accuracy)));
    }
    // A retraining trains its search's mask, from new weights.
    const auto search_arch = readJson(dir + "/protocol-seed1/gdas/arch.json");
    const auto retrained_config = readJson(dir + "/protocol-seed1/gdas-retrained/config.json");
    QCOMPARE(retrained_config["strategy"].toString(), QString("odbb"));
    const auto retrained_arch = readJson(dir + "/protocol-seed1/gdas-retrained/arch.json");
    QCOMPARE(retrained_arch["layers"].toArray().size(), 8);
    for (int l = 0; l < 8; ++l)
      QCOMPARE(retrained_arch["layers"][l]["kept"], search_arch["layers"][l]["kept"]);

    // The table, from the trials' summaries: mean and std of each group's accuracies.
    const auto table = readJson(dir + "/comparison-table.json");
    QCOMPARE(table["complete"].toBool(), true);
    std::map<QString, QStringList> group_trials = {
        {"search", {"protocol-seed1/search", "protocol-seed2/search"}},
        {"search retrained", {"protocol-seed1/retrained", "protocol-seed2/retrained"}},
        {"gdas", {"protocol-seed1/gdas", "protocol-seed2/gdas"}},
        {"gdas retrained", {"protocol-seed1/gdas-retrained", "protocol-seed2/gdas-retrained"}},
        {"random", {"protocol-seed1/random1", "protocol-seed2/random1"}},
        {"plain", {"protocol-seed1/plain", "protocol-seed2/plain"}}};
    QCOMPARE(table["rows"].toArray().size(), int(group_trials.size()));
    for (const auto& row : table["rows"].toArray()) {
      const auto o = row.toObject();
      const auto& trials = group_trials.at(o["group"].toString());
      const double a = after.at(trials[0]), b = after.at(trials[1]);
      QCOMPARE(o["n"].toInt(), 2);
      QVERIFY(std::abs(o["test_accuracy_mean"].toDouble() - (a + b) / 2) < 1e-9);
      QVERIFY(std::abs(o["test_accuracy_std"].toDouble() - std::abs(a - b) / std::sqrt(2.0)) < 1e-9);
      if (o["kind"].toString() != "baseline") QCOMPARE(o["k_compliant"].toInt(), 2);
      if (o["kind"].toString() == "search") {
        // The search's seconds: the step time before its fix, as its fix recorded it (the
        // last fix: a search killed between its fix and the next checkpoint fixes again).
        double sum = 0;
        for (const auto& trial : trials) {
          double last_fix = -1;
          forEachLoggedEvent((dir + "/" + trial + "/events.jsonl").toStdString(), [&](const Event& e) {
            if (const auto* p = std::get_if<PhaseChange>(&e); p && p->to == Phase::Fixed) last_fix = p->search_seconds.value();
          });
          QVERIFY(last_fix > 0);
          sum += last_fix;
        }
        QVERIFY2(std::abs(o["search_seconds"].toDouble() - sum / 2) < 1e-9, qPrintable(o["group"].toString()));
      }
      QVERIFY(o["cpu_seconds"].toDouble() > 0 && o["peak_rss_mb"].toDouble() > 10);
    }
    // Each verdict is the difference of the means, called beyond twice the pooled std.
    const auto verdicts = table["verdicts"].toArray();
    QVERIFY(verdicts.size() >= 2 * 2);
    for (const auto& v : verdicts) {
      const auto o = v.toObject();
      const double d = o["difference"].toDouble(), p = o["pooled_std"].toDouble();
      const QString call = o["call"].toString();
      QCOMPARE(call, p > 0 && d > 2 * p ? QString("better") : p > 0 && d < -2 * p ? QString("worse") : QString("no call"));
    }
    QVERIFY(QFile::exists(dir + "/comparison-table.csv"));
    // The catalogue finds a comparison's trials, and run folders below a folder.
    QCOMPARE(int(findRunFolders(dir.toStdString()).size()), 12);
    QCOMPARE(int(findRunFolders((dir + "/protocol-seed2").toStdString()).size()), 6);
    QCOMPARE(findRunFolders((dir + "/protocol-seed2/gdas").toStdString()),
             std::vector<std::string>{(dir + "/protocol-seed2/gdas").toStdString()});
    QVERIFY(readTrialSummary((dir + "/protocol-seed2/gdas").toStdString()));
    QVERIFY(!readTrialSummary(tmp_.filePath("data").toStdString()));
    QVERIFY(resumed.out.contains("verdicts"));

    // --print-commands: the same trials, run one after another by hand, give the same table.
    const QString by_hand = tmp_.filePath("cmp-by-hand");
    const auto printed = repnasCli(QStringList{"compare", "--out", by_hand, "--print-commands"} + request());
    QVERIFY2(printed.exit_code == 0, printed.err.constData());
    int commands = 0;
    for (const auto& line : printed.out.split('\n')) {
      if (line.isEmpty() || line.startsWith('#')) continue;
      auto words = QString::fromUtf8(line).split(' ');
      QCOMPARE(words.takeFirst(), QFileInfo(REPNAS_CLI).canonicalFilePath());
      const auto r = repnasCli(words);
      QVERIFY2(r.exit_code == 0, r.err.constData());
      ++commands;
    }
    QCOMPARE(commands, 12 + 1);
    QCOMPARE(trialAccuracies(by_hand), after);
    const auto table2 = readJson(by_hand + "/comparison-table.json");
    for (int i = 0; i < table["rows"].toArray().size(); ++i)
      QCOMPARE(table2["rows"].toArray()[i].toObject()["test_accuracy_mean"], table["rows"].toArray()[i].toObject()["test_accuracy_mean"]);

    // --table: the table of what has finished, nothing started (a fresh folder: all missing).
    const auto table_only = repnasCli({"compare", "--out", by_hand, "--table"});
    QVERIFY2(table_only.exit_code == 0, table_only.err.constData());
    QVERIFY(table_only.out.contains("verdicts") && !table_only.out.contains("incomplete"));
    const QString fresh = tmp_.filePath("cmp-fresh");
    const auto nothing = repnasCli(QStringList{"compare", "--out", fresh, "--table"} + request());
    QVERIFY2(nothing.exit_code == 0, nothing.err.constData());
    QVERIFY(nothing.out.contains("incomplete"));
    QCOMPARE(readJson(fresh + "/comparison-table.json")["complete"].toBool(), false);
    QVERIFY(!QDir(fresh + "/protocol-seed1").exists());
    // Usage errors exit 2 naming the option; another request in the folder is refused (1).
    const auto bad_strategy = repnasCli({"compare", "--out", tmp_.filePath("bad"), "--strategies", "plain"});
    QCOMPARE(bad_strategy.exit_code, 2);
    QVERIFY2(bad_strategy.err.contains("strategies: 'plain' is not a search strategy"), bad_strategy.err.constData());
    const auto other = repnasCli(QStringList{"compare", "--out", dir, "--seeds", "1,2,3"} + request().mid(4));
    QCOMPARE(other.exit_code, 1);
    QVERIFY2(other.err.contains("holds another comparison"), other.err.constData());
    const auto no_trial = repnasCli({"compare", "--out", dir, "--trial", "protocol-seed9/search"});
    QCOMPARE(no_trial.exit_code, 2);
    // Equal search wall time: --budget-wall S is every trial's search_seconds (the engine's
    // test checks what the key does); not a positive number: a usage error naming it.
    const QString wall = tmp_.filePath("cmp-wall");
    const auto wall_commands = repnasCli(QStringList{"compare", "--out", wall, "--budget-wall", "30", "--print-commands"} + request());
    QVERIFY2(wall_commands.exit_code == 0, wall_commands.err.constData());
    const auto overrides = readJson(wall + "/comparison.json")["overrides"].toArray();
    QVERIFY(overrides.contains(QJsonValue("search_seconds=30")));
    for (const char* bad_wall : {"0", "-5", "soon", "1,2"}) {
      const auto r = repnasCli({"compare", "--out", tmp_.filePath("bad-wall"), "--budget-wall", bad_wall});
      QCOMPARE(r.exit_code, 2);
      QVERIFY2(r.err.contains("--budget-wall expects"), r.err.constData());
    }
  }
};

QTEST_GUILESS_MAIN(TestCompare)
#include "test_compare.moc"
