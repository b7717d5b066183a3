// `repnas` as a user runs it: exit codes, the table, the JSON, and the errors.
#include <QtTest>

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>

namespace {

struct Run {
  int exit_code = -1;
  QByteArray out;
  QByteArray err;
};

Run runCli(const QStringList& args) {
  QProcess p;
  p.start(REPNAS_CLI, args);
  Run r;
  if (!p.waitForFinished(300000)) return r;
  r.exit_code = p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1;
  r.out = p.readAllStandardOutput();
  r.err = p.readAllStandardError();
  return r;
}

}  // namespace

class TestCli : public QObject {
  Q_OBJECT
 private Q_SLOTS:
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
  }
};

QTEST_GUILESS_MAIN(TestCli)
#include "test_cli.moc"
