#include "repnas_ui/cost_view.h"

#include <QComboBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QVBoxLayout>

#include <qcustomplot.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "repnas/error.h"
#include "repnas/run_folder.h"
#include "repnas_ui/plot_util.h"
#include "repnas_ui/run_model.h"
#include "widgets/ui_util.h"

namespace repnas::ui {

CostView::CostView(RunModel* model, std::function<QString()> run_folder, QWidget* parent)
    : QWidget(parent), model_(model), run_folder_(std::move(run_folder)) {
  quantity_ = new QComboBox;
  quantity_->setObjectName("costQuantity");
  quantity_->addItems({tr("ms per step (forward + backward)"), tr("MiB kept for the backward")});
  quantity_->setToolTip(tr("What the colours show: each branch's training time per step at the "
                           "run's batch, or the activation memory its forward keeps."));
  heatmap_ = new QCustomPlot;
  heatmap_->setObjectName("costHeatmap");
  heatmap_->setToolTip(tr("What each branch costs to train on this machine, measured (costs.json "
                          "of the run). Cyan outline: the branches the shown step trained."));
  heatmap_->setMinimumHeight(260);
  map_ = makeLayerBranchHeatmap(heatmap_, QCPColorGradient::gpCold, &scale_);
  applyPlotPalette(heatmap_);
  summary_ = new QLabel;
  summary_->setObjectName("costSummary");
  summary_->setWordWrap(true);
  summary_->setTextInteractionFlags(Qt::TextSelectableByMouse);

  auto* row = new QHBoxLayout;
  row->addWidget(new QLabel(tr("Show:")));
  row->addWidget(quantity_);
  row->addStretch(1);
  auto* layout = new QVBoxLayout(this);
  layout->addLayout(row);
  layout->addWidget(heatmap_, 1);
  layout->addWidget(summary_);

  throttle_ = new RedrawThrottle([this] { heatmap_->replot(QCustomPlot::rpImmediateRefresh); }, this);
  connect(quantity_, &QComboBox::currentIndexChanged, this, [this] { draw(); });
  connect(model_, &RunModel::reset, this, [this] { reload(); });
  connect(model_, &RunModel::runStarted, this, [this] { reload(); });
  connect(model_, &RunModel::stepsAppended, this, [this] { draw(); });
  connect(model_, &RunModel::commandAcknowledged, this, [this] { draw(); });  // the limits may have changed
  reload();
}

void CostView::reload() {
  costs_.reset();
  problem_.clear();
  const QString dir = run_folder_ ? run_folder_() : QString();
  if (!model_->hasRun()) {
    problem_ = tr("No run: the costs of a search's branches appear here when it starts.");
  } else if (dir.isEmpty() || !RunFolder(dir.toStdString()).hasCosts()) {
    problem_ = tr("This run has no cost table (%1): fixed-mask runs and runs made before the cost "
                  "model do not measure one. `repnas costs --backbone %2` measures it for this machine.")
                   .arg(dir.isEmpty() ? tr("no run folder") : QString::fromStdString(RunFolder(dir.toStdString()).costs()),
                        qs(model_->info().backbone));
  } else {
    const auto path = RunFolder(dir.toStdString()).costs();
    try {
      std::error_code ec;
      const auto size = std::filesystem::file_size(path, ec);
      if (ec) throw Error("cannot read it: " + ec.message());
      if (size > kMaxCostTableBytes) throw Error("it is larger than a cost table can be (4 MiB)");
      std::ifstream in(path, std::ios::binary);
      std::ostringstream text;
      text << in.rdbuf();
      auto table = trainingCostsFromJson(text.str());
      if (static_cast<int>(table.branches.size()) != model_->layers())
        throw Error("it describes " + std::to_string(table.branches.size()) + " layers, the run has " +
                    std::to_string(model_->layers()));
      costs_ = std::move(table);
    } catch (const Error& e) {
      problem_ = tr("%1: %2").arg(qs(path), qs(e.what()));
    }
  }
  rebuild();
  draw();
}

void CostView::rebuild() {
  layers_ = costs_ ? model_->layers() : 0;
  for (auto* item : marks_) heatmap_->removeItem(item);
  for (auto* item : texts_) heatmap_->removeItem(item);
  marks_.clear();
  texts_.clear();
  std::vector<QString> rows;
  for (int l = 0; l < layers_; ++l) rows.push_back(qs(model_->info().layers[l].label));
  setLayerBranchGrid(heatmap_, map_, model_->kernelSize(), rows);
  for (int l = 0; l < layers_; ++l)
    for (int b = 0; b < kNumBranchKinds; ++b) {
      marks_.push_back(addCellOutline(heatmap_, l, b, 0.42, QPen(QColor("#00c8ff"), 3)));
      texts_.push_back(addCellText(heatmap_, l, b));
    }
  kept_.assign(static_cast<size_t>(layers_) * kNumBranchKinds, false);
}

double CostView::cellValue(int layer, int branch) const {
  if (!costs_ || layer < 0 || layer >= layers_ || branch < 0 || branch >= kNumBranchKinds) return std::nan("");
  const auto& c = costs_->branches[layer][branch];
  if (!c.present) return std::nan("");
  return quantity_->currentIndex() == 1 ? c.mb : c.ms;
}

bool CostView::cellKept(int layer, int branch) const {
  const size_t i = static_cast<size_t>(layer) * kNumBranchKinds + branch;
  return layer >= 0 && branch >= 0 && branch < kNumBranchKinds && i < kept_.size() && kept_[i];
}

void CostView::draw() {
  const bool mb = quantity_->currentIndex() == 1;
  scale_->axis()->setLabel(mb ? tr("MiB") : tr("ms per step"));
  const auto& steps = model_->steps();
  const std::vector<BranchMask> mask = steps.empty() ? std::vector<BranchMask>{} : steps.back().mask;
  double lo = INFINITY, hi = -INFINITY;
  for (int l = 0; l < layers_; ++l)
    for (int b = 0; b < kNumBranchKinds; ++b) {
      const size_t i = static_cast<size_t>(l) * kNumBranchKinds + b;
      const double v = cellValue(l, b);
      map_->data()->setCell(b, l, v);
      if (!std::isnan(v)) lo = std::min(lo, v), hi = std::max(hi, v);
      kept_[i] = l < static_cast<int>(mask.size()) && mask[l].test(b);
      marks_[i]->setVisible(kept_[i]);
    }
  if (!(lo < hi)) lo = 0, hi = std::max(1.0, hi);
  map_->setDataRange(QCPRange(lo, hi));
  for (int l = 0; l < layers_; ++l)
    for (int b = 0; b < kNumBranchKinds; ++b) {
      const size_t i = static_cast<size_t>(l) * kNumBranchKinds + b;
      const double v = cellValue(l, b);
      texts_[i]->setText(std::isnan(v) ? QStringLiteral("—") : QString::number(v, 'f', v < 10 ? 2 : 1));
      texts_[i]->setColor(std::isnan(v) ? Qt::gray : ((v - lo) / (hi - lo) > 0.55 ? Qt::black : Qt::white));
    }
  if (!costs_) {
    summary_->setText(problem_);
  } else {
    const auto& c = *costs_;
    QString text = tr("Measured on %1, batch %2, %3 thread(s), LibTorch %4 (%5 repeats, medians). "
                      "A step's base (stem, head, identity, loss, update): %6 ms, %7 MiB.")
                       .arg(qs(c.cpu))
                       .arg(c.batch)
                       .arg(c.threads)
                       .arg(qs(c.torch_version))
                       .arg(c.repeats)
                       .arg(c.base.ms, 0, 'f', 1)
                       .arg(c.base.mb, 0, 'f', 1);
    if (!mask.empty() && c.base.present) {
      const auto table = trainingCostTable(c);
      const auto& budget = model_->budget();
      auto limit = [](double v, const QString& unit) {
        return v > 0 ? QObject::tr(" (limit %1 %2)").arg(v, 0, 'f', 1).arg(unit) : QString();
      };
      text += tr("\nThe shown step (%1) trained %2 branches: predicted %3 ms per step%4, %5 MiB%6.")
                  .arg(stepText(steps.back().step + 1))
                  .arg(countBranches(mask))
                  .arg(table.msOf(mask), 0, 'f', 1)
                  .arg(limit(budget.max_ms, tr("ms")))
                  .arg(table.mbOf(mask), 0, 'f', 1)
                  .arg(limit(budget.max_mb, tr("MiB")));
    }
    summary_->setText(text);
  }
  if (isVisible()) throttle_->request();
  else dirty_ = true;
}

void CostView::showEvent(QShowEvent* event) {
  QWidget::showEvent(event);
  if (dirty_) {
    dirty_ = false;
    heatmap_->replot();
  }
}

}  // namespace repnas::ui
