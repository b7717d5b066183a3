#pragma once
// Small helpers shared by the widgets (private to ui/).

#include <QColor>
#include <QPalette>
#include <QString>
#include <QWidget>

#include <string>
#include <string_view>

#include "repnas/branch_kind.h"

namespace repnas::ui {

inline QString qs(std::string_view s) { return QString::fromUtf8(s.data(), static_cast<int>(s.size())); }
inline QString qs(const std::string& s) { return QString::fromStdString(s); }
inline QString qs(const char* s) { return QString::fromUtf8(s); }
/// The branch's name as the user reads it, for the run's kernel size: 3x3, 1x1-3x3, 1x3, …
inline QString branchLabel(int kind, int kernel_size) {
  return qs(branchDisplayName(static_cast<BranchKind>(kind), kernel_size));
}

/// Text colour of a message: the palette's (none), or an error red / a muted grey. Through
/// the palette, not a style sheet, so that a theme change reaches it.
enum class Ink { Normal, Error, Muted };
inline void setInk(QWidget* w, Ink ink) {
  if (ink == Ink::Normal) {
    w->setPalette(QPalette());  // inherit
    return;
  }
  QPalette pal;  // only this role set: the others keep following the parent's palette
  pal.setColor(QPalette::WindowText, ink == Ink::Error ? QColor("#c0392b") : QColor("#7f8c8d"));
  w->setPalette(pal);
}

}  // namespace repnas::ui

#include <QElapsedTimer>
#include <QObject>
#include <QTimer>

#include <algorithm>
#include <functional>

#include <ctime>

namespace repnas::ui {

/// @brief Keeps the GUI thread's CPU use low while a search runs: measures the thread's CPU
/// time (CLOCK_THREAD_CPUTIME_ID) once a second and returns a multiplier for every redraw
/// interval, raised while the GUI thread uses more than 1.5% of a core, lowered back to 1 when
/// it does not. Every wake-up of the GUI thread preempts one of the training threads, whose
/// parallel regions then wait for it, so this costs the search more than the CPU time itself.
/// GUI thread only.
class GuiLoadGovernor {
 public:
  static GuiLoadGovernor& instance() {
    static GuiLoadGovernor governor;
    return governor;
  }
  double factor() {
    const qint64 wall = clock_.elapsed();
    if (wall >= 1000) {
      const double cpu = threadCpuMs();
      const double share = (cpu - last_cpu_ms_) / static_cast<double>(wall);
      factor_ = std::clamp(factor_ * (share > kTargetShare ? 1.5 : 0.6), 1.0, 20.0);
      last_cpu_ms_ = cpu;
      clock_.restart();
    }
    return factor_;
  }
  static double threadCpuMs() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
  }

 private:
  GuiLoadGovernor() : last_cpu_ms_(threadCpuMs()) { clock_.start(); }
  static constexpr double kTargetShare = 0.015;
  QElapsedTimer clock_;
  double last_cpu_ms_;
  double factor_ = 1;
};

/// @brief Coalesces redraw requests: at most one draw per 40 ms, and further apart when a draw
/// is expensive, so that drawing takes at most ~1/share of the time (the training threads
/// need the cores: DESIGN.md asks for ≥ 95% of the headless search speed with the GUI open).
class RedrawThrottle : public QObject {
 public:
  RedrawThrottle(std::function<void()> draw, QObject* parent, double share = 25)
      : QObject(parent), draw_(std::move(draw)), share_(share) {
    timer_.setSingleShot(true);
    connect(&timer_, &QTimer::timeout, this, [this] { run(); });
    since_.start();
  }
  /// @brief Asks for a draw; it happens once the interval since the last one has passed.
  void request() {
    if (timer_.isActive()) return;
    const double interval = std::max(40.0, share_ * cost_ms_) * GuiLoadGovernor::instance().factor();
    timer_.start(static_cast<int>(std::max(0.0, interval - since_.elapsed())));
  }
  /// @brief Draws now.
  void run() {
    timer_.stop();
    QElapsedTimer t;
    t.start();
    draw_();
    cost_ms_ = 0.7 * cost_ms_ + 0.3 * t.nsecsElapsed() / 1e6;
    since_.restart();
  }

 private:
  std::function<void()> draw_;
  double share_;
  double cost_ms_ = 0;
  QTimer timer_;
  QElapsedTimer since_;
};

}  // namespace repnas::ui
