#pragma once
// Running `repnas` as a user does, from the tests (Qt Test, header-only): its exit code and
// output, and reading the JSON files it writes. REPNAS_CLI is the program's path.
#include <QFile>
#include <QJsonDocument>
#include <QJsonObject>
#include <QList>
#include <QProcess>
#include <QProcessEnvironment>
#include <QStringList>

namespace repnas::testing {

struct Run {
  int exit_code = -1;
  QByteArray out;
  QByteArray err;
};

inline QJsonObject readJsonFile(const QString& path) {
  QFile f(path);
  if (!f.open(QIODevice::ReadOnly)) return {};
  return QJsonDocument::fromJson(f.readAll()).object();
}

inline QList<QJsonObject> readEvents(const QString& path) {
  QList<QJsonObject> out;
  QFile f(path);
  if (!f.open(QIODevice::ReadOnly)) return out;
  for (const auto& line : f.readAll().split('\n'))
    if (!line.isEmpty()) out.push_back(QJsonDocument::fromJson(line).object());
  return out;
}

/// Where and how a command runs (by default: here, with this process's environment).
struct Launch {
  QString program = REPNAS_CLI;
  QString working_dir;
  QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
};

/// `program args` (by default `repnas args`), waited for, its exit code and output.
inline Run runCli(const QStringList& args, const Launch& launch = {}) {
  QProcess p;
  p.setProcessEnvironment(launch.env);
  if (!launch.working_dir.isEmpty()) p.setWorkingDirectory(launch.working_dir);
  p.start(launch.program, args);
  Run r;
  if (!p.waitForFinished(300000)) return r;
  r.exit_code = p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1;
  r.out = p.readAllStandardOutput();
  r.err = p.readAllStandardError();
  return r;
}

}  // namespace repnas::testing
