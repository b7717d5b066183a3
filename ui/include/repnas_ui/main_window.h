#pragma once
/// @file main_window.h
/// @brief The RepNAS Studio main window.

#include <QMainWindow>

namespace repnas::ui {

class FusionCheckPanel;

/// @brief Main window: hosts the tool panels; restores its geometry from QSettings.
class MainWindow : public QMainWindow {
  Q_OBJECT
 public:
  explicit MainWindow(QWidget* parent = nullptr);
  FusionCheckPanel* fusionCheckPanel() const { return fusion_panel_; }

 protected:
  void closeEvent(QCloseEvent* event) override;

 private:
  FusionCheckPanel* fusion_panel_ = nullptr;
};

}  // namespace repnas::ui
