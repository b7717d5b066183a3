#pragma once
// Small helpers shared by the widgets (private to ui/).

#include <QString>

#include <string>
#include <string_view>

#include "repnas/branch_kind.h"

namespace repnas::ui {

inline QString qs(std::string_view s) { return QString::fromUtf8(s.data(), static_cast<int>(s.size())); }
inline QString qs(const std::string& s) { return QString::fromStdString(s); }
inline QString qs(const char* s) { return QString::fromUtf8(s); }
inline QString branchLabel(int kind) { return qs(branchName(static_cast<BranchKind>(kind))); }

}  // namespace repnas::ui

#include <QElapsedTimer>
#include <QObject>
#include <QTimer>

#include <algorithm>
#include <functional>

namespace repnas::ui {

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
    const double interval = std::max(40.0, share_ * cost_ms_);
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
