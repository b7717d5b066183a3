#pragma once
/// @file run_sources.h
/// @brief Where a RunModel's events come from: an engine on a worker thread (EngineRunner),
/// or a run directory's events.jsonl, replayed and optionally followed (EventLogFollower).

#include <QObject>
#include <QString>
#include <QTimer>

#include <cstdint>
#include <memory>
#include <string>

#include "repnas/config.h"
#include "repnas/events.h"

namespace repnas::ui {

class RunModel;

/// @brief Runs repnas::Engine on a worker thread. The engine's observer only queues events;
/// a 100 ms timer in the GUI thread hands them to the model in one batch, so the GUI redraws
/// at most 10 times a second however fast the steps come. The engine also writes events.jsonl
/// exactly as `repnas search` does.
class EngineRunner : public QObject {
  Q_OBJECT
 public:
  explicit EngineRunner(RunModel* model, QObject* parent = nullptr);
  ~EngineRunner() override;  ///< stops a running engine and waits for it

  /// @brief Starts a new run (or resumes run_dir). Throws repnas::Error (ConfigError for a bad
  /// configuration) before any thread starts.
  void start(const RunConfig& config, const QString& run_dir, bool resume);
  /// @brief Queues a command for the engine; returns its id, or -1 when nothing runs.
  int64_t post(const Command& command);
  bool isRunning() const { return running_; }
  QString runDir() const { return run_dir_; }
  /// @brief Asks the engine to stop (it saves a checkpoint first) and waits, keeping the
  /// event loop alive, up to `timeout_ms`. True when it has finished.
  bool stopAndWait(int timeout_ms);
  /// @brief Delivers queued events now (also done by the timer).
  void drain();

 Q_SIGNALS:
  void started();
  void finished(const QString& status, const QString& message);

 public:
  struct Queue;  ///< events waiting for the GUI thread (defined in the .cpp)

 private:
  RunModel* model_;
  std::shared_ptr<Queue> queue_;
  std::unique_ptr<class EngineThread> thread_;
  QTimer timer_;
  bool running_ = false;
  QString run_dir_;
};

/// @brief Reads a run directory's events.jsonl into a model: all of it at once (replay), then,
/// when following, every new complete line as the file grows (polled, so that it also works
/// on network and shared folders where change notifications do not arrive).
class EventLogFollower : public QObject {
  Q_OBJECT
 public:
  explicit EventLogFollower(RunModel* model, QObject* parent = nullptr);

  /// @brief Opens a run directory (or an events.jsonl file), clears the model and replays the
  /// log. With `follow`, keeps reading until closed. Returns an error message, or empty.
  QString open(const QString& path, bool follow);
  void close();
  bool isFollowing() const { return timer_.isActive(); }
  QString runDir() const { return run_dir_; }
  /// @brief Reads what was appended since the last read.
  void poll();
  /// @brief Lines that could not be parsed (reported through problem()).
  int badLines() const { return bad_lines_; }

 Q_SIGNALS:
  void problem(const QString& message);
  void runFinished();

 private:
  RunModel* model_;
  QTimer timer_;
  QString run_dir_;
  QString log_path_;
  qint64 offset_ = 0;
  qint64 line_number_ = 0;
  std::string partial_;
  bool skipping_line_ = false;  ///< inside a line longer than kMaxEventLineBytes
  int bad_lines_ = 0;
};

}  // namespace repnas::ui
