#pragma once
/// @file setup_panel.h
/// @brief The form that describes a new run. Every field is checked as it changes; an invalid
/// field is marked, with the reason beside it, and the form is valid only when all are.

#include <QWidget>

#include <QPointer>

#include <cstdint>
#include <map>
#include <vector>

#include "repnas/config.h"

class QCheckBox;
class QComboBox;
class QLabel;
class QLineEdit;
class QPushButton;
class QSpinBox;
class QDoubleSpinBox;
class QFormLayout;
class QTableWidget;
class QThread;

namespace repnas::ui {

class SetupPanel : public QWidget {
  Q_OBJECT
 public:
  explicit SetupPanel(QWidget* parent = nullptr);
  ~SetupPanel() override;  ///< waits for a data check still reading

  /// @brief The configuration the form describes (valid or not).
  RunConfig config() const;
  /// @brief Fills the form (e.g. from a run's config.json).
  void setConfig(const RunConfig& config);
  QString outputDir() const;
  void setOutputDir(const QString& dir);
  bool isValid() const { return problems_.empty(); }
  /// @brief field key → reason, for every invalid field.
  const std::map<QString, QString>& problems() const { return problems_; }
  /// @brief The reason shown at a field (empty when valid).
  QString problemAt(const QString& key) const;
  /// @brief Disables editing while a run is in progress.
  void setLocked(bool locked);

  QComboBox* modeBox() const { return mode_; }
  QComboBox* datasetBox() const { return dataset_; }
  QLineEdit* dataDirEdit() const { return data_dir_; }
  QSpinBox* epochsBox() const { return epochs_; }
  QSpinBox* budgetBox() const { return budget_; }
  QDoubleSpinBox* archLrBox() const { return arch_lr_; }
  QSpinBox* valSplitBox() const { return val_split_; }
  QComboBox* maskBox() const { return mask_; }
  /// @brief The text under the arch. lr field: the value a run with this form would use.
  QString archLrResolution() const;
  QLineEdit* outputEdit() const { return output_; }
  /// @brief Whether the data folder is being read (the engine's reader, in a worker thread).
  bool isCheckingData() const { return !data_checking_.isEmpty(); }
  /// @brief Training images of the data set as read (-1 until it has been read successfully).
  int64_t dataTrainImages() const;
  /// @brief Every configuration key with its value, as in config.json (Advanced section).
  QTableWidget* advancedTable() const { return advanced_; }
  QPushButton* startButton() const { return start_; }

 Q_SIGNALS:
  void validityChanged(bool valid);
  /// @brief After every check of the form (any field edited, or a configuration set).
  void revalidated();
  void startRequested();

 public Q_SLOTS:
  void revalidate();

 protected:
  void changeEvent(QEvent* event) override;

 private:
  /// Fills the mask choices (none, random, and the given mask of base_ when it has one).
  void fillMaskChoices();
  QWidget* addField(QFormLayout* form, const QString& key, const QString& label,
                    QWidget* field, const QString& tip);
  void mark(const QString& key, const QString& reason);
  /// Reads the data set of the form in a worker thread (the check the engine runs first).
  void checkData(const QString& key, const QString& dataset, const QString& dir);
  QString dataKey() const;
  void fillAdvanced();
  /// Applies an edit of the Advanced table (key, JSON value) to base_ and the form.
  void applyAdvancedEdit(int row);

  struct DataCheck {
    QString error;            ///< empty when the files read
    int64_t train_images = 0;
  };
  std::map<QString, DataCheck> data_checks_;  ///< by dataset|folder
  QString data_checking_;
  std::vector<QPointer<QThread>> check_threads_;  ///< checks still reading (waited for at exit)
  QTableWidget* advanced_ = nullptr;
  QWidget* advanced_box_ = nullptr;
  bool filling_advanced_ = false;

  QComboBox* mode_;
  QComboBox* backbone_;
  QComboBox* dataset_;
  QLineEdit* data_dir_;
  QSpinBox* epochs_;
  QSpinBox* warmup_;
  QSpinBox* search_;
  QSpinBox* fixed_;
  QSpinBox* budget_;
  QComboBox* mask_;
  QDoubleSpinBox* arch_lr_;
  QLabel* arch_lr_resolved_;
  QDoubleSpinBox* noise_start_;
  QDoubleSpinBox* noise_end_;
  QCheckBox* norm_reset_;
  QSpinBox* batch_;
  QSpinBox* seed_;
  QSpinBox* threads_;
  QSpinBox* train_limit_;
  QSpinBox* val_split_;
  QDoubleSpinBox* lr_;
  QCheckBox* augment_;
  QLineEdit* output_;
  QPushButton* start_;
  QLabel* summary_;
  std::map<QString, QWidget*> fields_;
  std::map<QString, QLabel*> error_labels_;
  std::map<QString, QString> problems_;
  RunConfig base_;  ///< keys the form does not show keep these values
  bool valid_ = false;
  bool locked_ = false;
};

}  // namespace repnas::ui
