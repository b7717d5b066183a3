// repnas-bench-gui: search throughput with RepNAS Studio's window attached against headless,
// and the GUI event loop's latency while the search runs. Prints a table and writes
// bench/results/gui.json. Runs offscreen unless a display is set.
#include <QApplication>
#include <QDir>
#include <QElapsedTimer>
#include <QEventLoop>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QSaveFile>
#include <QTemporaryDir>
#include <QThread>
#include <QTimer>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <thread>

#include "bench_util.h"
#include "repnas/engine.h"
#include "repnas/events.h"
#include "repnas/run_folder.h"
#include "repnas/runtime.h"
#include "repnas_ui/main_window.h"
#include "repnas_ui/run_model.h"
#include "repnas_ui/run_sources.h"
#include "repnas_ui/setup_panel.h"

using namespace repnas;

namespace {

/// Summed step times and images of a run's events.jsonl.
struct StepTimes {
  double ms = 0;
  int64_t images = 0;
};

/// The step times a run folder's event log records.
StepTimes readStepTimes(const QString& run_dir, int batch) {
  StepTimes t;
  forEachLoggedEvent(RunFolder(run_dir.toStdString()).events(), [&](const Event& e) {
    if (const auto* s = std::get_if<StepSnapshot>(&e)) {
      t.ms += s->step_ms;
      t.images += batch;
    }
  });
  return t;
}

/// CPU time of the calling thread, in ms.
double threadCpuMs() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  repnas::reuseFreedMemory();  // before any thread starts (see runtime.h)
  if (!qEnvironmentVariableIsSet("DISPLAY") && !qEnvironmentVariableIsSet("QT_QPA_PLATFORM"))
    qputenv("QT_QPA_PLATFORM", "offscreen");
  QApplication app(argc, argv);
  QApplication::setOrganizationName("RepNAS-bench");
  QApplication::setApplicationName("repnas-bench-gui");
  int rounds = 5, threads = 2, probe_ms = 20;
  bool hidden = false;  // diagnostics: the window exists but is never shown
  int64_t train_limit = 6400;
  QString out = QString(REPNAS_SOURCE_DIR) + "/bench/results/gui.json";
  const auto args = app.arguments();
  for (int i = 1; i + 1 < args.size(); i += 2) {
    if (args[i] == "--rounds") rounds = args[i + 1].toInt();
    else if (args[i] == "--threads") threads = args[i + 1].toInt();
    else if (args[i] == "--train-limit") train_limit = args[i + 1].toLongLong();
    else if (args[i] == "--out") out = args[i + 1];
    else if (args[i] == "--probe-ms") probe_ms = args[i + 1].toInt();
    else if (args[i] == "--hidden") hidden = args[i + 1] == "1";
    else {
      std::fprintf(stderr, "usage: repnas-bench-gui [--rounds N] [--threads N] [--train-limit N] [--out FILE]\n"
                           "                        [--probe-ms MS] [--hidden 1]\n");
      return 2;
    }
  }
  RunConfig config;  // the default search on Fashion-MNIST, one short search epoch
  config.epochs = 1;
  config.warmup_epochs = 0;
  config.search_epochs = 1;
  config.train_limit = train_limit;
  config.test_limit = 500;
  config.threads = threads;
  setComputeThreads(threads);
  QTemporaryDir tmp;
  tmp.setAutoRemove(!qEnvironmentVariableIsSet("REPNAS_BENCH_KEEP"));

  std::printf("search on Fashion-MNIST (tiny, batch %d, %lld images per run, %d threads), "
              "headless and with the window attached, interleaved, %d rounds\n\n",
              config.batch_size, static_cast<long long>(train_limit), threads, rounds);
  std::printf("%-6s %14s %14s %8s %18s %15s\n", "round", "headless img/s", "GUI img/s", "ratio",
              "max loop delay ms", "GUI thread CPU");
  std::vector<double> ratios, delays;
  QJsonArray rows;
  for (int r = 0; r < rounds; ++r) {
    // Headless: `repnas search --quiet` in its own process, as a user runs it.
    StepTimes headless;
    {
      const auto dir = tmp.filePath(QString("headless-%1").arg(r));
      QStringList cli{"search", "--quiet", "--out", dir};
      for (const auto& kv : {QString("epochs=1"), QString("warmup_epochs=0"), QString("search_epochs=1"),
                             QString("train_limit=%1").arg(train_limit), QString("test_limit=500"),
                             QString("threads=%1").arg(threads)})
        cli << "--set" << kv;
      QProcess search;
      search.setProcessChannelMode(QProcess::ForwardedErrorChannel);
      search.start(REPNAS_CLI, cli);
      if (!search.waitForFinished(-1) || search.exitCode() != 0) {
        std::fprintf(stderr, "repnas search failed: %s\n", search.readAllStandardOutput().constData());
        return 1;
      }
      headless = readStepTimes(dir, config.batch_size);
    }
    // The window: every view attached, redrawn as the events arrive.
    double gui_ms = 0;
    int64_t gui_images = 0;
    double max_delay = 0;
    double gui_cpu_share = 0;  // GUI thread CPU time / wall time of the GUI run
    {
      ui::MainWindow window;
      window.resize(1400, 900);
      if (!hidden) window.show();
      window.setupPanel()->setConfig(config);
      window.setupPanel()->setOutputDir(tmp.filePath(QString("gui-%1").arg(r)));
      QElapsedTimer clock;
      QTimer probe;
      probe.setInterval(probe_ms);
      probe.setTimerType(Qt::PreciseTimer);
      QObject::connect(&probe, &QTimer::timeout, [&] {
        if (clock.isValid()) max_delay = std::max(max_delay, clock.restart() - double(probe_ms));
        else clock.start();
      });
      QElapsedTimer wall;
      wall.start();
      const double cpu0 = threadCpuMs();
      if (!window.startRun()) return 1;
      probe.start();
      // A real event loop (as app.exec() runs it): it sleeps between events. (A
      // processEvents(flags, maxtime) loop would spin one core and halve the engine.)
      QEventLoop loop;
      QObject::connect(window.runner(), &ui::EngineRunner::finished, &loop, &QEventLoop::quit);
      if (window.runner()->isRunning()) loop.exec();
      probe.stop();
      gui_cpu_share = (threadCpuMs() - cpu0) / std::max<qint64>(1, wall.elapsed());
    }
    {
      const auto t = readStepTimes(tmp.filePath(QString("gui-%1").arg(r)), config.batch_size);
      gui_ms = t.ms;
      gui_images = t.images;
    }
    const double h = headless.images / (headless.ms / 1000), g = gui_images / (gui_ms / 1000);
    ratios.push_back(g / h);
    delays.push_back(max_delay);
    std::printf("%-6d %14.0f %14.0f %8.3f %18.1f %14.1f%%\n", r + 1, h, g, g / h, max_delay,
                100 * gui_cpu_share);
    std::fflush(stdout);
    rows.append(QJsonObject{{"round", r + 1}, {"headless_images_per_second", h},
                            {"gui_images_per_second", g}, {"ratio", g / h},
                            {"max_event_loop_delay_ms", max_delay},
                            {"gui_thread_cpu_share", gui_cpu_share}});
  }
  std::printf("\nmedian ratio GUI/headless %.3f (target >= 0.95); median max event-loop delay %.1f ms "
              "(target < 50)\n", median(ratios), median(delays));
  QJsonObject j{{"benchmark", "gui"},
                {"date", QDateTime::currentDateTimeUtc().toString(Qt::ISODate)},
                {"repnas", QString::fromStdString(version())},
                {"threads", threads},
                {"train_limit", static_cast<qint64>(train_limit)},
                {"platform", QApplication::platformName()},
                {"median_ratio", median(ratios)},
                {"median_max_event_loop_delay_ms", median(delays)},
                {"rounds", rows}};
  QDir().mkpath(QFileInfo(out).absolutePath());
  QSaveFile file(out);
  if (!file.open(QIODevice::WriteOnly)) return 1;
  file.write(QJsonDocument(j).toJson());
  if (!file.commit()) return 1;
  std::printf("wrote %s\n", qPrintable(out));
  return 0;
}
