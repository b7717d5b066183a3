#include "repnas_ui/run_sources.h"

#include <QCoreApplication>
#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QFileInfo>
#include <QThread>

#include <atomic>
#include <filesystem>
#include <mutex>
#include <thread>

#include "repnas/engine.h"
#include "repnas/run_folder.h"
#include "repnas_ui/run_model.h"
#include "widgets/ui_util.h"

namespace repnas::ui {

// ------------------------------------------------------------------ EngineRunner

/// Events from the engine thread, waiting for the GUI thread.
struct EngineRunner::Queue : public EventObserver {
  std::mutex mutex;
  std::vector<Event> events;
  std::atomic<bool> done{false};

  void onEvent(const Event& e) override {
    std::lock_guard<std::mutex> lock(mutex);
    events.push_back(e);
  }
  std::vector<Event> take() {
    std::lock_guard<std::mutex> lock(mutex);
    std::vector<Event> out;
    out.swap(events);
    return out;
  }
};

/// The engine, its event log and the thread that runs it.
class EngineThread {
 public:
  EngineThread(const RunConfig& config, const std::string& dir, bool resume,
               std::shared_ptr<EngineRunner::Queue> queue)
      : engine_(config, dir, resume), queue_(std::move(queue)) {
    std::filesystem::create_directories(dir);
    // A new run starts its log anew; a resumed run appends (as `repnas search` does).
    log_ = std::make_unique<EventLogWriter>(RunFolder(dir).events(), resume);
    engine_.addObserver(log_.get());
    engine_.addObserver(queue_.get());
    thread_ = std::thread([this] {
      engine_.run();
      queue_->done = true;
    });
  }
  ~EngineThread() {
    if (thread_.joinable()) {
      engine_.post(Command::stop());
      thread_.join();
    }
  }
  Engine& engine() { return engine_; }
  void join() {
    if (thread_.joinable()) thread_.join();
  }

 private:
  Engine engine_;
  std::shared_ptr<EngineRunner::Queue> queue_;
  std::unique_ptr<EventLogWriter> log_;
  std::thread thread_;
};

EngineRunner::EngineRunner(RunModel* model, QObject* parent) : QObject(parent), model_(model) {
  timer_.setInterval(100);  // 10 updates a second; each wake-up preempts a training thread
  connect(&timer_, &QTimer::timeout, this, &EngineRunner::drain);
}

EngineRunner::~EngineRunner() {
  thread_.reset();  // stops and joins
}

void EngineRunner::start(const RunConfig& config, const QString& run_dir, bool resume) {
  if (running_) throw Error("a run is already in progress");
  thread_.reset();
  queue_ = std::make_shared<Queue>();
  thread_ = std::make_unique<EngineThread>(config, run_dir.toStdString(), resume, queue_);
  run_dir_ = run_dir;
  running_ = true;
  timer_.start();
  Q_EMIT started();
}

int64_t EngineRunner::post(const Command& command) {
  if (!running_ || !thread_) return -1;
  return thread_->engine().post(command);
}

void EngineRunner::drain() {
  if (!queue_) return;
  const bool done = queue_->done.load();  // read before taking: nothing comes after done
  model_->apply(queue_->take());
  if (done && running_) {
    timer_.stop();
    thread_->join();
    running_ = false;
    // The result may have come in an earlier batch than the end of the thread.
    const auto& fin = model_->finished();
    Q_EMIT finished(fin ? qs(fin->status) : QStringLiteral("failed"),
                    fin ? qs(fin->message) : tr("the engine ended without a result"));
  }
}

bool EngineRunner::stopAndWait(int timeout_ms) {
  if (!running_) return true;
  post(Command::stop());
  QElapsedTimer clock;
  clock.start();
  while (running_ && clock.elapsed() < timeout_ms) {
    QCoreApplication::processEvents(QEventLoop::AllEvents, 20);
    drain();
    if (running_) QThread::msleep(10);
  }
  return !running_;
}

// ------------------------------------------------------------------ EventLogFollower

EventLogFollower::EventLogFollower(RunModel* model, QObject* parent)
    : QObject(parent), model_(model) {
  timer_.setInterval(250);
  connect(&timer_, &QTimer::timeout, this, &EventLogFollower::poll);
}

QString EventLogFollower::open(const QString& path, bool follow) {
  close();
  const QFileInfo fi(path);
  if (fi.isDir()) {
    run_dir_ = fi.absoluteFilePath();
    log_path_ = QString::fromStdString(RunFolder(run_dir_.toStdString()).events());
  } else {
    log_path_ = fi.absoluteFilePath();
    run_dir_ = fi.absolutePath();
  }
  if (!follow && !QFileInfo::exists(log_path_))
    return tr("%1 has no events.jsonl: not a RepNAS run folder").arg(run_dir_);
  model_->clear();
  offset_ = 0;
  line_number_ = 0;
  partial_.clear();
  bad_lines_ = 0;
  poll();
  if (follow) timer_.start();
  return {};
}

void EventLogFollower::close() {
  timer_.stop();
}

void EventLogFollower::poll() {
  QFile file(log_path_);
  if (!file.open(QIODevice::ReadOnly)) return;  // not there yet (monitoring a run that starts)
  if (file.size() < offset_) {  // the log was started anew (a new run in the same folder)
    model_->clear();
    offset_ = 0;
    line_number_ = 0;
    partial_.clear();
    skipping_line_ = false;
  }
  if (file.size() == offset_) return;
  file.seek(offset_);
  // In chunks, so that memory stays bounded by a chunk and the longest accepted line.
  constexpr qint64 kChunk = qint64{4} << 20;
  std::vector<Event> events;
  bool finished = false;
  const auto report = [&](qint64 line, const QString& what) {
    ++bad_lines_;
    Q_EMIT problem(tr("%1 line %2: %3").arg(log_path_).arg(line).arg(what));
  };
  for (QByteArray bytes; !(bytes = file.read(kChunk)).isEmpty();) {
    offset_ += bytes.size();
    size_t start = 0;
    const std::string_view chunk(bytes.constData(), static_cast<size_t>(bytes.size()));
    for (size_t nl; (nl = chunk.find('\n', start)) != std::string_view::npos; start = nl + 1) {
      ++line_number_;
      if (skipping_line_) {  // the end of an oversized line
        skipping_line_ = false;
        continue;
      }
      partial_.append(chunk.substr(start, nl - start));
      const std::string line = std::move(partial_);
      partial_.clear();
      if (line.empty()) continue;
      try {
        events.push_back(eventFromJson(line));
        if (std::holds_alternative<RunFinished>(events.back())) finished = true;
      } catch (const std::exception& e) {
        // A line torn by a crash or a full disk, or a damaged one: skipped, the rest is read.
        report(line_number_, qs(e.what()));
      }
    }
    if (!skipping_line_) partial_.append(chunk.substr(start));  // an incomplete last line
    if (partial_.size() > kMaxEventLineBytes) {
      report(line_number_ + 1, tr("longer than %1 bytes: skipped").arg(kMaxEventLineBytes));
      partial_.clear();
      partial_.shrink_to_fit();
      skipping_line_ = true;
    }
  }
  model_->apply(events);
  if (finished) Q_EMIT runFinished();
}

}  // namespace repnas::ui
