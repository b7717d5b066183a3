// `repnas` as a user runs it: exit codes, the table, the JSON, and the errors.
#include <QtTest>

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QDir>
#include <QFileInfo>
#include <QProcess>
#include <QTemporaryDir>

#include <csignal>

#include "repnas/config.h"
#include "repnas/events.h"
#include "cli_test_util.h"
#include "synthetic_data.h"

namespace {

using repnas::testing::Launch;
using repnas::testing::Run;
using repnas::testing::readEvents;
using repnas::testing::readJsonFile;
using repnas::testing::runCli;

/// `repnas ARGS` with every file it writes limited to `bytes` (RLIMIT_FSIZE, via util-linux's
/// prlimit): a write past the limit fails with EFBIG, as a write to a full disk fails.
Run runCliWithFileLimit(qint64 bytes, const QStringList& args) {
  Launch launch;
  launch.program = "prlimit";
  return runCli(QStringList{QString("--fsize=%1").arg(bytes), "--", REPNAS_CLI} + args, launch);
}

/// `repnas ARGS` with fsync failing (EIO) for the files whose name starts with `prefix`: the
/// write of that one file fails as on a disk that lost the data (tests/fault_fsync.cpp).
Run runCliWithFailingFsync(const QString& prefix, const QStringList& args) {
  Launch launch;
  launch.env.insert("LD_PRELOAD", REPNAS_FAULT_FSYNC);
  launch.env.insert("REPNAS_TEST_FAIL_FSYNC", prefix);
  // Under AddressSanitizer the preloaded library comes before the sanitizer's runtime.
  launch.env.insert("ASAN_OPTIONS", launch.env.value("ASAN_OPTIONS") + ":verify_asan_link_order=0");
  return runCli(args, launch);
}

QByteArray fileBytes(const QString& path) {
  QFile f(path);
  return f.open(QIODevice::ReadOnly) ? f.readAll() : QByteArray();
}

/// Files of `dir` whose name says they are a temporary of an atomic write.
QStringList temporaryFiles(const QString& dir) {
  return QDir(dir).entryList({"*.tmp*"}, QDir::Files);
}

}  // namespace

class TestCli : public QObject {
  Q_OBJECT
  QTemporaryDir tmp_;
  QString data_;

  QStringList searchArgs(const QString& out, int epochs) const {
    return {"search", "--out", out, "--quiet", "--set", "dataset=idx", "--set",
            "data_dir=" + data_, "--set", QString("epochs=%1").arg(epochs), "--set",
            "warmup_epochs=1", "--set", "search_epochs=1", "--set",
            QString("fixed_epochs=%1").arg(epochs - 2), "--set", "batch_size=32", "--set",
            "threads=1", "--set", "arch_lr=0.05"};
  }

 private Q_SLOTS:
  void initTestCase() {
    QVERIFY(tmp_.isValid());
    data_ = tmp_.filePath("data");
    QDir().mkpath(data_);
    repnas::testing::writeIdxDataset(data_.toStdString(), 320, 60);
  }

  void searchWritesTheRunDirectory() {
    const QString out = tmp_.filePath("run");
    const auto r = runCli(searchArgs(out, 3));
    QVERIFY2(r.exit_code == 0, r.err.constData());
    QVERIFY(r.out.contains("completed"));
    for (auto f : {"config.json", "events.jsonl", "checkpoint.pt", "arch.json", "weights.pt"})
      QVERIFY2(QFile::exists(out + "/" + f), f);
    QCOMPARE(readJsonFile(out + "/config.json")["epochs"].toInt(), 3);
    const auto events = readEvents(out + "/events.jsonl");
    QCOMPARE(events.first()["type"].toString(), QString("run_started"));
    QCOMPARE(events.last()["type"].toString(), QString("finished"));
    QCOMPARE(events.last()["status"].toString(), QString("completed"));
    int steps = 0;
    for (const auto& e : events) steps += e["type"].toString() == "step";
    QCOMPARE(steps, 30);
    const auto arch = readJsonFile(out + "/arch.json");
    QCOMPARE(arch["layers"].toArray().size(), 8);
    QCOMPARE(arch["branches_kept"].toInt(), 16);
    // Export to all three formats from the command line, then evaluate each file.
    const auto ex = runCli({"export", out, "--onnx", out + "/m.onnx", "--torchscript", out + "/m.pt",
                            "--spec", out + "/m.json", "--threads", "1"});
    QVERIFY2(ex.exit_code == 0, ex.err.constData());
    QVERIFY(ex.out.startsWith("verified: 60 test images"));
    QVERIFY(ex.out.contains("wrote " + (out + "/m.safetensors").toUtf8()));
    QString accuracy;
    for (const QString& f : {out + "/m.onnx", out + "/m.pt", out + "/m.json", out}) {
      const auto ev = runCli({"evaluate", f, "--data", data_, "--threads", "1"});
      QVERIFY2(ev.exit_code == 0, ev.err.constData());
      const auto line = QString::fromUtf8(ev.out);
      const auto acc = line.section("test accuracy ", 1).section(" ", 0, 0);
      QVERIFY2(!acc.isEmpty(), qPrintable(line));
      if (accuracy.isEmpty()) accuracy = acc;
      QCOMPARE(acc, accuracy);  // the same accuracy from every format
    }
    auto none = runCli({"export", out});
    QCOMPARE(none.exit_code, 2);
    QVERIFY(none.err.contains("nothing to export"));
    none = runCli({"export", tmp_.filePath("nowhere"), "--onnx", tmp_.filePath("x.onnx")});
    QCOMPARE(none.exit_code, 2);
    QVERIFY(none.err.contains("nowhere"));

    // A second search into the same folder is refused rather than overwriting it.
    const auto again = runCli(searchArgs(out, 3));
    QCOMPARE(again.exit_code, 2);
    QVERIFY(again.err.contains("already holds a run"));
  }

  void retrainTrainsTheFoundMaskFromScratch() {
    const QString search = tmp_.filePath("run");  // the search of searchWritesTheRunDirectory
    const QString out = tmp_.filePath("retrained");
    const auto r = runCli({"retrain", search, "--out", out, "--quiet", "--set", "epochs=1",
                           "--set", "threads=1"});
    QVERIFY2(r.exit_code == 0, r.err.constData());
    QVERIFY(r.out.contains("completed"));
    const auto config = readJsonFile(out + "/config.json");
    QCOMPARE(config["strategy"].toString(), QString("odbb"));
    QVERIFY(config["mask_source"].toString().contains(search));
    // The retrained network keeps exactly the search's branches.
    const auto a = readJsonFile(search + "/arch.json")["layers"].toArray();
    const auto b = readJsonFile(out + "/arch.json")["layers"].toArray();
    for (int l = 0; l < a.size(); ++l)
      QCOMPARE(b[l].toObject()["kept"], a[l].toObject()["kept"]);
    // It is a normal run folder: export works on it.
    const auto ex = runCli({"export", out, "--spec", out + "/m.json", "--threads", "1"});
    QVERIFY2(ex.exit_code == 0, ex.err.constData());
    // Errors: a folder without a search (exit 1, named), an odbb run, a missing --out (usage).
    auto bad = runCli({"retrain", tmp_.filePath("nowhere"), "--out", tmp_.filePath("r2")});
    QCOMPARE(bad.exit_code, 1);
    QVERIFY2(bad.err.contains("nowhere") && bad.err.contains("not a RepNAS run folder"), bad.err.constData());
    bad = runCli({"retrain", out, "--out", tmp_.filePath("r3")});
    QCOMPARE(bad.exit_code, 1);
    QVERIFY2(bad.err.contains("not a search"), bad.err.constData());
    bad = runCli({"retrain", search});
    QCOMPARE(bad.exit_code, 2);
    QVERIFY(bad.err.contains("--out DIR is required"));
    bad = runCli({"retrain", search, "--out", out});
    QCOMPARE(bad.exit_code, 2);
    QVERIFY2(bad.err.contains("already holds a run"), bad.err.constData());
  }

  void benchUsageRunsNothing() {
#ifdef REPNAS_BENCH
    // --help anywhere prints the usage and runs nothing (a benchmark overwrites its results
    // file); an option without its value is a usage error.
    const QString out = tmp_.filePath("bench-train.json");
    Launch bench;
    bench.program = REPNAS_BENCH;
    for (const QStringList& args : {QStringList{"train", "--out", out, "--help"}, QStringList{"--help"},
                                    QStringList{"protocol", "-h"}}) {
      const auto r = runCli(args, bench);
      QCOMPARE(r.exit_code, 0);
      QVERIFY2(r.out.contains("usage: repnas-bench"), r.out.constData());
    }
    QVERIFY(!QFile::exists(out));
    const auto r = runCli({"train", "--out", out, "--threads"}, bench);
    QCOMPARE(r.exit_code, 2);
    QVERIFY2(r.err.contains("--threads needs a value"), r.err.constData());
    QVERIFY(!QFile::exists(out));
#else
    QSKIP("built without the benchmarks");
#endif
  }

  void configErrorsNameTheKeyAndExitWithTwo() {
    auto r = runCli({"search", "--out", tmp_.filePath("bad1"), "--set", "epoch=3"});
    QCOMPARE(r.exit_code, 2);
    QVERIFY2(r.err.contains("unknown config key 'epoch'"), r.err.constData());
    r = runCli({"search", "--out", tmp_.filePath("bad2"), "--set", "batch_size=big"});
    QCOMPARE(r.exit_code, 2);
    QVERIFY2(r.err.contains("config key 'batch_size': expected an integer"), r.err.constData());
    QFile cfg(tmp_.filePath("bad.json"));
    QVERIFY(cfg.open(QIODevice::WriteOnly));
    cfg.write("{\"mode\": \"search\",}");
    cfg.close();
    r = runCli({"search", "--out", tmp_.filePath("bad3"), "--config", cfg.fileName()});
    QCOMPARE(r.exit_code, 2);
    QVERIFY2(r.err.contains("bad.json") && r.err.contains("not valid JSON"), r.err.constData());
    r = runCli({"search", "--set", "epochs=1"});
    QCOMPARE(r.exit_code, 2);
    QVERIFY(r.err.contains("--out DIR is required"));
    // hant's lists: every item a number in range, the option named.
    r = runCli({"hant", tmp_.filePath("any"), "--out", tmp_.filePath("h"), "--speedup", "2", "--finetune-lr", "1e-3,0"});
    QCOMPARE(r.exit_code, 2);
    QVERIFY2(r.err.contains("--finetune-lr expects learning rates") && r.err.contains("'0'"), r.err.constData());
    r = runCli({"hant", tmp_.filePath("any"), "--out", tmp_.filePath("h"), "--sweep", "2,fast"});
    QCOMPARE(r.exit_code, 2);
    QVERIFY2(r.err.contains("--sweep expects speed-ups") && r.err.contains("'fast'"), r.err.constData());
    // A data problem is a failed run (exit 1) whose message names the folder.
    r = runCli({"search", "--out", tmp_.filePath("bad4"), "--quiet", "--set", "dataset=idx",
                "--set", "data_dir=" + tmp_.filePath("missing")});
    QCOMPARE(r.exit_code, 1);
    QVERIFY2(r.err.contains("missing"), r.err.constData());
  }

  // Kill -9 after the first checkpoint, resume, and end exactly where an uninterrupted run ends.
  void killedRunResumesToTheSameResult() {
    const QString whole = tmp_.filePath("whole");
    QCOMPARE(runCli(searchArgs(whole, 4)).exit_code, 0);

    const QString killed = tmp_.filePath("killed");
    QProcess p;
    p.start(REPNAS_CLI, searchArgs(killed, 4));
    QVERIFY(p.waitForStarted());
    bool checkpointed = false;
    for (int i = 0; i < 600 && !checkpointed; ++i) {
      QTest::qWait(20);
      for (const auto& e : readEvents(killed + "/events.jsonl"))
        checkpointed |= e["type"].toString() == "checkpoint" && e["step"].toInt() >= 10;
    }
    QVERIFY(checkpointed);
    p.kill();  // SIGKILL: no chance to save anything more
    QVERIFY(p.waitForFinished());
    QVERIFY(!QFile::exists(killed + "/arch.json"));

    const auto r = runCli({"search", "--out", killed, "--resume", "--quiet", "--set", "threads=1"});
    QVERIFY2(r.exit_code == 0, r.err.constData());
    const auto a = readJsonFile(whole + "/arch.json");
    const auto b = readJsonFile(killed + "/arch.json");
    QCOMPARE(b["layers"], a["layers"]);  // the same mask and the same α, to the last bit
    QCOMPARE(b["test_accuracy"].toDouble(), a["test_accuracy"].toDouble());
    // The log says the run was resumed from the checkpoint.
    bool resumed = false;
    for (const auto& e : readEvents(killed + "/events.jsonl"))
      resumed |= e["type"].toString() == "run_started" && e["resumed"].toBool();
    QVERIFY(resumed);
    // Resume refuses a changed configuration.
    const auto refused = runCli({"search", "--out", killed, "--resume", "--set", "epochs=9"});
    QCOMPARE(refused.exit_code, 2);
    QVERIFY(refused.err.contains("only --set threads=N"));
  }

  // Fault injection of the write paths: each write fails in turn; the run or the export ends
  // with a message and exit 1, nothing saved before is damaged, no temporary file stays, and
  // the run resumes once the space is back.
  void fullDiskWhileWritingCheckpointEndsTheRunFailed() {
    const QString full = tmp_.filePath("run");  // the completed run of searchWritesTheRunDirectory
    const qint64 checkpoint = QFileInfo(full + "/checkpoint.pt").size();
    const qint64 log = QFileInfo(full + "/events.jsonl").size();
    QVERIFY2(checkpoint > 2 * log, "the limit must fall between the log and the checkpoint");
    const qint64 limit = (checkpoint + log) / 2;

    const QString out = tmp_.filePath("fulldisk");
    auto r = runCliWithFileLimit(limit, searchArgs(out, 3));
    QCOMPARE(r.exit_code, 1);
    QVERIFY2(r.err.contains("checkpoint.pt") && r.err.contains("File too large"), r.err.constData());
    QVERIFY2(!r.err.contains("terminate called"), r.err.constData());
    QVERIFY2(temporaryFiles(out).isEmpty(), qPrintable(temporaryFiles(out).join(", ")));
    const auto events = readEvents(out + "/events.jsonl");
    QVERIFY(!events.isEmpty());
    QCOMPARE(events.last()["type"].toString(), QString("finished"));  // a monitor sees the end
    QCOMPARE(events.last()["status"].toString(), QString("failed"));
    QVERIFY(!QFile::exists(out + "/checkpoint.pt"));  // no torn checkpoint in its place

    // A second run reaches its first checkpoint; then the disk fills while it writes the next.
    const QString later = tmp_.filePath("fulldisk2");
    QVERIFY(runCli(searchArgs(later, 1)).exit_code == 0);
    const QByteArray good = [&] { QFile f(later + "/checkpoint.pt"); f.open(QIODevice::ReadOnly); return f.readAll(); }();
    r = runCliWithFileLimit(limit, {"search", "--out", later, "--resume", "--quiet", "--override",
                                    "--set", "fixed_epochs=2"});
    QCOMPARE(r.exit_code, 1);
    QVERIFY(temporaryFiles(later).isEmpty());
    const QByteArray after = [&] { QFile f(later + "/checkpoint.pt"); f.open(QIODevice::ReadOnly); return f.readAll(); }();
    QVERIFY(after == good);  // the last good checkpoint is untouched
    // Space again: the run resumes (the log's last line was whole: it starts a fresh one).
    r = runCli({"search", "--out", later, "--resume", "--quiet", "--override", "--set", "fixed_epochs=2"});
    QVERIFY2(r.exit_code == 0, r.err.constData());
    for (const auto& e : readEvents(later + "/events.jsonl")) QVERIFY(e.contains("type"));
  }

  // The results of a finished run are written last, each on its own: weights.pt, then
  // arch.json failing in turn ends the run failed naming the file, leaves the last checkpoint
  // and no temporary, and a resume writes the results the uninterrupted run wrote.
  void failedWriteOfWeightsOrArchEndsTheRunFailedAndResumes() {
    const QString whole = tmp_.filePath("run");  // the completed run of searchWritesTheRunDirectory
    for (const QString file : {"weights.pt", "arch.json"}) {
      const QString out = tmp_.filePath("faulty-" + file);
      auto r = runCliWithFailingFsync(file + ".tmp", searchArgs(out, 3));
      QCOMPARE(r.exit_code, 1);
      QVERIFY2(r.err.contains(("cannot write " + out + "/" + file).toUtf8()) &&
                   r.err.contains("did not reach the disk"), r.err.constData());
      QVERIFY2(temporaryFiles(out).isEmpty(), qPrintable(temporaryFiles(out).join(", ")));
      QVERIFY(!QFile::exists(out + "/" + file));
      QVERIFY(QFile::exists(out + "/checkpoint.pt"));
      const auto events = readEvents(out + "/events.jsonl");
      QCOMPARE(events.last()["type"].toString(), QString("finished"));
      QCOMPARE(events.last()["status"].toString(), QString("failed"));
      const QByteArray checkpoint = fileBytes(out + "/checkpoint.pt");

      r = runCli({"search", "--out", out, "--resume", "--quiet"});
      QVERIFY2(r.exit_code == 0, r.err.constData());
      QVERIFY(fileBytes(out + "/checkpoint.pt") == checkpoint);  // nothing trained again
      QCOMPARE(readJsonFile(out + "/arch.json")["layers"], readJsonFile(whole + "/arch.json")["layers"]);
      QCOMPARE(readJsonFile(out + "/arch.json")["test_accuracy"].toDouble(),
               readJsonFile(whole + "/arch.json")["test_accuracy"].toDouble());
      QVERIFY(QFile::exists(out + "/weights.pt"));
      const auto ev = runCli({"evaluate", out, "--data", data_, "--threads", "1"});
      QVERIFY2(ev.exit_code == 0, ev.err.constData());
    }
  }

  void fullDiskWhileWritingTheEventLogEndsTheRunFailed() {
    const QString out = tmp_.filePath("fulllog");
    const auto r = runCliWithFileLimit(4096, searchArgs(out, 3));
    QCOMPARE(r.exit_code, 1);
    QVERIFY2(r.err.contains("File too large") && !r.err.contains("terminate called"), r.err.constData());
    QVERIFY(temporaryFiles(out).isEmpty());
    // Every line in the log is whole.
    QFile f(out + "/events.jsonl");
    if (f.open(QIODevice::ReadOnly)) {
      const auto bytes = f.readAll();
      QVERIFY(bytes.isEmpty() || bytes.endsWith('\n'));
    }
  }

  void fullDiskWhileExportingLeavesNoFile() {
    const QString run = tmp_.filePath("run");
    const QString onnx = tmp_.filePath("limited.onnx");
    const auto r = runCliWithFileLimit(20000, {"export", run, "--onnx", onnx, "--threads", "1"});
    QCOMPARE(r.exit_code, 1);
    QVERIFY2(r.err.contains("limited.onnx") && !r.err.contains("terminate called"), r.err.constData());
    QVERIFY(!QFile::exists(onnx));
    QVERIFY(temporaryFiles(tmp_.path()).isEmpty());
    const QString ts = tmp_.filePath("limited.pt");
    const auto t = runCliWithFileLimit(20000, {"export", run, "--torchscript", ts, "--threads", "1"});
    QCOMPARE(t.exit_code, 1);
    QVERIFY2(t.err.contains("limited.pt") && !t.err.contains("terminate called"), t.err.constData());
    QVERIFY(!QFile::exists(ts));
    QVERIFY(temporaryFiles(tmp_.path()).isEmpty());
  }

  void editedConfigIsRefusedOnResumeAndAnOverrideIsRecorded() {
    const QString out = tmp_.filePath("edited");
    QVERIFY(runCli(searchArgs(out, 1)).exit_code == 0);
    QFile cfg(out + "/config.json");
    QVERIFY(cfg.open(QIODevice::ReadOnly));
    const QByteArray original = cfg.readAll();
    cfg.close();
    auto edited = QJsonDocument::fromJson(original).object();
    edited["seed"] = 7;
    QVERIFY(cfg.open(QIODevice::WriteOnly | QIODevice::Truncate));
    cfg.write(QJsonDocument(edited).toJson());
    cfg.close();
    auto r = runCli({"search", "--out", out, "--resume", "--quiet"});
    QCOMPARE(r.exit_code, 1);
    QVERIFY2(r.err.contains("config key 'seed'") && r.err.contains("edited"), r.err.constData());
    QVERIFY(cfg.open(QIODevice::WriteOnly | QIODevice::Truncate));
    cfg.write(original);
    cfg.close();
    // lr only with --override; then it is applied and recorded.
    r = runCli({"search", "--out", out, "--resume", "--quiet", "--set", "lr=0.01"});
    QCOMPARE(r.exit_code, 2);
    QVERIFY2(r.err.contains("--override"), r.err.constData());
    r = runCli({"search", "--out", out, "--resume", "--quiet", "--override", "--set", "lr=0.01",
                "--set", "epochs=2", "--set", "fixed_epochs=1"});
    QVERIFY2(r.exit_code == 0, r.err.constData());
    bool recorded = false;
    for (const auto& e : readEvents(out + "/events.jsonl"))
      if (e["type"].toString() == "run_started" && e["resumed"].toBool())
        recorded |= e["resume_changes"].toArray().contains(QJsonValue("lr: 0.1 -> 0.01"));
    QVERIFY(recorded);
    QCOMPARE(readJsonFile(out + "/config.json")["lr"].toDouble(), 0.01);
  }

  void interruptStopsCleanlyWithACheckpoint() {
    const QString out = tmp_.filePath("interrupted");
    QProcess p;
    p.start(REPNAS_CLI, searchArgs(out, 50));
    QVERIFY(p.waitForStarted());
    bool stepping = false;
    for (int i = 0; i < 600 && !stepping; ++i) {
      QTest::qWait(20);
      for (const auto& e : readEvents(out + "/events.jsonl")) stepping |= e["type"].toString() == "step";
    }
    QVERIFY(stepping);
    ::kill(static_cast<pid_t>(p.processId()), SIGINT);
    QVERIFY(p.waitForFinished(60000));
    QCOMPARE(p.exitCode(), 3);  // stopped, not completed
    const auto events = readEvents(out + "/events.jsonl");
    QCOMPARE(events.last()["status"].toString(), QString("stopped"));
    QVERIFY(QFile::exists(out + "/checkpoint.pt"));
  }

  // Old run folders keep working: a folder written by 0.1.0 (tests/fixtures/README.md) is
  // read, evaluated to the accuracy it recorded, exported, its log parsed line by line, and
  // resumed to more epochs.
  void runFolderOfVersion010StillWorks() {
    const QString work = tmp_.filePath("old");
    QDir().mkpath(work + "/fixture-data");
    repnas::testing::writeIdxDataset((work + "/fixture-data").toStdString(), 320, 60, 12, 12);
    const QString fixture = QString(REPNAS_SOURCE_DIR) + "/tests/fixtures/run-0.1.0-search";
    const QString run = work + "/run";
    QDir().mkpath(run);
    for (const auto& name : QDir(fixture).entryList(QDir::Files))
      QVERIFY(QFile::copy(fixture + "/" + name, run + "/" + name));
    Launch in_work;
    in_work.working_dir = work;  // the config names its data folder relative to it
    auto inWork = [&](const QStringList& args) { return runCli(args, in_work); };
    const auto config = repnas::loadRunConfig(run.toStdString());
    QCOMPARE(QString::fromStdString(config.mode), QString("search"));
    for (const auto& line : fileBytes(run + "/events.jsonl").split('\n'))
      if (!line.isEmpty()) repnas::eventFromJson(line.toStdString());  // throws on a line it no longer reads
    const double recorded = readJsonFile(run + "/arch.json")["test_accuracy"].toDouble();
    QVERIFY(recorded > 0.1);  // above chance: the weights are really read back
    auto r = inWork({"evaluate", "run", "--data", "fixture-data", "--threads", "1"});
    QVERIFY2(r.exit_code == 0, r.err.constData());
    QVERIFY2(r.out.contains(QString("test accuracy %1%").arg(100 * recorded, 0, 'f', 2).toUtf8()), r.out.constData());
    r = inWork({"export", "run", "--onnx", "run/m.onnx", "--threads", "1"});
    QVERIFY2(r.exit_code == 0, r.err.constData());
    r = inWork({"search", "--out", "run", "--resume", "--quiet", "--override", "--set", "epochs=4",
                "--set", "fixed_epochs=2"});
    QVERIFY2(r.exit_code == 0, r.err.constData());
    QVERIFY2(r.out.contains("completed 40 steps"), r.out.constData());
  }

  // repnas costs: the table printed and written, then read from the cache; bad options exit 2.
  void costsMeasuresOnceThenReadsTheCache() {
    QTemporaryDir cache;
    Launch launch;
    launch.env.insert("XDG_CACHE_HOME", cache.path());
    const QString out = cache.filePath("costs-copy.json");
    auto r = runCli({"costs", "--threads", "1", "--repeats", "1", "--batch", "4", "--out", out}, launch);
    QVERIFY2(r.exit_code == 0, r.err.constData());
    QVERIFY2(r.out.contains("measured now") && r.out.contains("KxK") && r.out.contains("identity"), r.out.constData());
    QVERIFY(QFile::exists(out));
    QVERIFY(QFile::exists(cache.filePath("repnas-studio/costs/tiny-1x28x28-b4-t1.json")));
    r = runCli({"costs", "--threads", "1", "--repeats", "1", "--batch", "4", "--json"}, launch);
    QCOMPARE(r.exit_code, 0);
    const auto doc = QJsonDocument::fromJson(r.out);
    QCOMPARE(doc.object()["format"].toString(), QString("repnas-costs-3"));
    QCOMPARE(doc.object()["layers"].toArray().size(), 8);
    r = runCli({"costs", "--threads", "1", "--repeats", "1", "--batch", "4"}, launch);
    QVERIFY2(r.out.contains("from the cache"), r.out.constData());
    r = runCli({"costs", "--backbone", "vgg"}, launch);
    QCOMPARE(r.exit_code, 2);
    QVERIFY2(r.err.contains("--backbone: no preset 'vgg'"), r.err.constData());
    r = runCli({"costs", "--batch", "0"}, launch);
    QCOMPARE(r.exit_code, 2);
  }

  void verifyFusionJsonListsPassingCases() {
    const auto r = runCli({"verify-fusion", "--json", "--threads", "2"});
    QCOMPARE(r.exit_code, 0);
    QJsonParseError error;
    const auto doc = QJsonDocument::fromJson(r.out, &error);
    QVERIFY2(error.error == QJsonParseError::NoError, qPrintable(error.errorString()));
    QVERIFY(doc.isArray());
    const auto rows = doc.array();
    QVERIFY(rows.size() > 100);
    bool saw_example = false;
    for (const auto& v : rows) {
      const auto o = v.toObject();
      QCOMPARE(o.keys(), (QStringList{"max_abs_err", "name", "pass", "rel_err"}));
      QVERIFY(o["pass"].toBool());
      QVERIFY(o["max_abs_err"].toDouble() >= 0);
      QVERIFY(o["rel_err"].toDouble() < 1e-5);
      saw_example |= o["name"].toString().startsWith("1x1-AVG k3 s2 g1 16->32");
    }
    QVERIFY(saw_example);
  }

  void verifyFusionTableHasOneRowPerCase() {
    const auto r = runCli({"verify-fusion"});
    QCOMPARE(r.exit_code, 0);
    const auto lines = QString::fromUtf8(r.out).split('\n', Qt::SkipEmptyParts);
    int rows = 0;
    for (const auto& l : lines) rows += l.endsWith(" pass") ? 1 : 0;
    QVERIFY(rows > 100);
    QVERIFY(lines.last().contains(QString("%1 passed, 0 failed").arg(rows)));
  }

  void injectedFaultFailsWithExitStatusOne() {
    const auto r = runCli({"verify-fusion", "--fault", "perturbed-kernel"});
    QCOMPARE(r.exit_code, 1);
    QVERIFY(r.out.contains("FAIL"));
  }

  void badArgumentsAreNamed() {
    auto r = runCli({"verify-fusion", "--threads", "two"});
    QCOMPARE(r.exit_code, 2);
    QVERIFY2(r.err.contains("--threads expects an integer"), r.err.constData());
    r = runCli({"verify-fusion", "--bogus"});
    QCOMPARE(r.exit_code, 2);
    QVERIFY(r.err.contains("unknown argument '--bogus'"));
    r = runCli({"verify-fusion", "--fault", "nonsense"});
    QCOMPARE(r.exit_code, 2);
    QVERIFY(r.err.contains("unknown fault 'nonsense'"));
    r = runCli({"frobnicate"});
    QCOMPARE(r.exit_code, 2);
    QVERIFY(r.err.contains("unknown command 'frobnicate'"));
  }

  void versionNamesBothVersions() {
    const auto r = runCli({"version"});
    QCOMPARE(r.exit_code, 0);
    QVERIFY(r.out.startsWith("repnas "));
    QVERIFY(r.out.contains("LibTorch 1."));
    QCOMPARE(runCli({"--version"}).out, r.out);
  }

  void helpIsCompleteForEveryCommand() {
    const auto overview = runCli({"--help"});
    QCOMPARE(overview.exit_code, 0);
    for (const char* cmd : {"search", "export", "evaluate", "verify-fusion", "version", "help", "man"}) {
      QVERIFY2(overview.out.contains(QByteArray("\n  ") + cmd), cmd);
      const auto h = runCli({cmd, "--help"});
      QCOMPARE(h.exit_code, 0);
      QVERIFY2(h.out.startsWith(QByteArray("usage: repnas ") + cmd), cmd);
      QCOMPARE(runCli({"help", cmd}).out, h.out);
    }
    // Every option the commands parse is documented, and search lists every config key with
    // its default.
    const auto search = runCli({"search", "--help"}).out;
    for (const char* opt : {"--out DIR", "--config FILE", "--set KEY=VALUE", "--resume", "--quiet"})
      QVERIFY2(search.contains(opt), opt);
    for (const auto& k : repnas::configKeyHelp())
      QVERIFY2(search.contains(QByteArray("\n  ") + k.key.c_str() + " ["), k.key.c_str());
    QVERIFY(search.contains("  epochs [10]"));
    const auto exp = runCli({"export", "-h"}).out;
    for (const char* opt : {"--onnx", "--torchscript", "--spec", "--force", "--verify-images", "--data", "--threads"})
      QVERIFY2(exp.contains(opt), opt);
    const auto nosuch = runCli({"help", "frobnicate"});
    QCOMPARE(nosuch.exit_code, 2);
    QVERIFY(nosuch.err.contains("no command 'frobnicate'"));
    const auto man = runCli({"man"});
    QCOMPARE(man.exit_code, 0);
    QVERIFY(man.out.startsWith(".TH REPNAS 1"));
    QVERIFY(man.out.contains(".SS search"));
  }
};

QTEST_GUILESS_MAIN(TestCli)
#include "test_cli.moc"
