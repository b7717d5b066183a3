// HANT (issue 17): the alternatives' shapes and availability, the teacher's own conv leaves the
// network unchanged, phase-1 distillation reduces every layer's error, the choice meets the
// latency budget, an impossible budget is refused with the least latency. Tiny synthetic data.
#include <torch/torch.h>

#include <QtTest>

#include <QTemporaryDir>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>

#include <nlohmann/json.hpp>

#include "hant/alternatives.h"
#include "hant/latency_fit.h"
#include "repnas/config.h"
#include "repnas/engine.h"
#include "repnas/error.h"
#include "repnas/export.h"
#include "repnas/hant.h"
#include "synthetic_data.h"

using namespace repnas;
namespace fs = std::filesystem;

class TestHant : public QObject {
  Q_OBJECT
  QTemporaryDir tmp_;
  std::string run_;

 private Q_SLOTS:
  void initTestCase() {
    QVERIFY(tmp_.isValid());
    const auto data = (fs::path(tmp_.path().toStdString()) / "data").string();
    fs::create_directories(data);
    testing::writeIdxDataset(data, 256, 64);
    RunConfig c;
    c.mode = "plain";
    c.dataset = "idx";
    c.data_dir = data;
    c.epochs = 2;
    c.batch_size = 32;
    c.threads = 1;
    c.lr = 0.05;
    run_ = (fs::path(tmp_.path().toStdString()) / "teacher").string();
    Engine engine(c, run_);
    QCOMPARE(QString::fromStdString(engine.run().status), QString("completed"));
  }

  void alternativesKeepTheLayersShape() {
    torch::manual_seed(3);
    for (auto [in, out, stride] : {std::tuple{16, 16, 1}, {16, 32, 2}, {1, 16, 1}, {12, 24, 1}, {32, 32, 2}}) {
      BlockSpec b;
      b.in_channels = in;
      b.out_channels = out;
      b.stride = stride;
      const auto x = torch::randn({2, in, 11, 12});  // odd and even sides
      const auto want = HantAlt(HantOp::Dense, b)->forward(x).sizes().vec();
      for (int op = 0; op < kNumHantOps; ++op) {
        const auto o = static_cast<HantOp>(op);
        const auto where = qPrintable(QString("%1 on %2->%3 s%4").arg(QString::fromStdString(hantOpName(o))).arg(in).arg(out).arg(stride));
        if (!hantOpAvailable(o, b)) {
          QVERIFY_THROWS_EXCEPTION(Error, HantAlt(o, b));
          continue;
        }
        QVERIFY2(HantAlt(o, b)->forward(x).sizes().vec() == want, where);
      }
    }
    BlockSpec b;
    QVERIFY(hantOpAvailable(HantOp::Identity, b));
    b.stride = 2;
    QVERIFY(!hantOpAvailable(HantOp::Identity, b));
    b.stride = 1;
    b.in_channels = 6;
    b.out_channels = 6;
    QVERIFY(hantOpAvailable(HantOp::Grouped2, b) && !hantOpAvailable(HantOp::Grouped4, b));
    b.groups = 2;  // an already grouped conv keeps itself
    QVERIFY(hantOpAvailable(HantOp::Dense, b) && !hantOpAvailable(HantOp::Pointwise, b));
    // Fewer parameters than the dense conv, except the dense conv.
    BlockSpec w;
    w.in_channels = w.out_channels = 32;
    const auto dense = HantAlt(HantOp::Dense, w)->parameterCount();
    for (int op = 1; op < kNumHantOps; ++op)
      QVERIFY(HantAlt(static_cast<HantOp>(op), w)->parameterCount() < dense);
  }

  // The latency model's ridge fit: on latencies that are additive plus noise, it recovers the
  // per-(layer, op) deltas from a prior 50% off; on latencies with an interaction (the savings
  // of several swaps overlap) it predicts held-out networks better than the prior; its
  // cross-validated error estimates the error on networks it never saw; bad input is named.
  void latencyFitRecoversDeltasAndBeatsThePrior() {
    std::mt19937_64 rng(7);
    std::normal_distribution<double> normal(0, 1);
    std::uniform_real_distribution<double> unit(0, 1);
    const int layers = 6, ops = 5;
    const double base = 10;
    std::vector<std::vector<bool>> available(layers, std::vector<bool>(ops, true));
    available[2][4] = false;
    std::vector<std::vector<double>> truth(layers, std::vector<double>(ops, 0)), prior = truth;
    for (int l = 0; l < layers; ++l)
      for (int o = 1; o < ops; ++o) {
        truth[l][o] = -0.8 * unit(rng);  // every alternative saves up to 0.8 ms
        prior[l][o] = available[l][o] ? 1.5 * truth[l][o] : 0;
      }
    auto draw = [&](bool interaction, double noise) {
      LatencyObservation ob;
      double saved = 0;
      const double p = unit(rng);
      for (int l = 0; l < layers; ++l) {
        int o = 0;
        if (unit(rng) < p) do o = 1 + static_cast<int>(unit(rng) * (ops - 1)); while (!available[l][o]);
        ob.choice.push_back(o);
        saved -= truth[l][o];
      }
      // Overlapping savings: the more is saved, the less each saving counts.
      if (interaction) saved -= 0.08 * saved * saved;
      ob.ms = base - saved + noise * normal(rng);
      return ob;
    };
    auto relativeError = [&](const LatencyFit& fit, const std::vector<LatencyObservation>& set) {
      double sq = 0;
      for (const auto& ob : set) {
        const double e = (predictLatency(base, fit, ob.choice) - ob.ms) / ob.ms;
        sq += e * e;
      }
      return std::sqrt(sq / set.size());
    };
    // No observations: the prior itself, no cross-validation.
    const auto none = fitLatencies(base, prior, available, {});
    QVERIFY(none.delta == prior);
    QCOMPARE(none.cv_error, -1.0);
    // Additive + noise (std 0.02 ms): the deltas within 0.05 ms of the truth.
    std::vector<LatencyObservation> train, held;
    for (int i = 0; i < 200; ++i) train.push_back(draw(false, 0.02));
    for (int i = 0; i < 100; ++i) held.push_back(draw(false, 0.02));
    const auto fit = fitLatencies(base, prior, available, train);
    QCOMPARE(fit.observations, 200);
    double worst = 0;
    for (int l = 0; l < layers; ++l)
      for (int o = 0; o < ops; ++o) worst = std::max(worst, std::abs(fit.delta[l][o] - (available[l][o] ? truth[l][o] : 0)));
    QVERIFY2(worst < 0.05, qPrintable(QString::number(worst)));
    QCOMPARE(fit.delta[2][4], 0.0);  // unavailable: no delta
    QVERIFY(fit.cv_error > 0 && fit.cv_error < 0.01);
    QVERIFY(relativeError(fit, held) < relativeError(none, held) / 5);
    // With the interaction: better than the prior on held-out networks, and the
    // cross-validated error within a factor 2 of the held-out one.
    train.clear();
    held.clear();
    for (int i = 0; i < 200; ++i) train.push_back(draw(true, 0.02));
    for (int i = 0; i < 200; ++i) held.push_back(draw(true, 0.02));
    const auto bent = fitLatencies(base, prior, available, train);
    const double bent_held = relativeError(bent, held);
    QVERIFY2(bent_held < relativeError(none, held) / 2,
             qPrintable(QString("%1 vs the prior's %2").arg(bent_held).arg(relativeError(none, held))));
    QVERIFY2(bent.cv_error > bent_held / 2 && bent.cv_error < bent_held * 2,
             qPrintable(QString("cv %1, held out %2").arg(bent.cv_error).arg(bent_held)));
    // Bad input.
    auto bad = train;
    bad[3].choice.pop_back();
    QVERIFY_THROWS_EXCEPTION(Error, fitLatencies(base, prior, available, bad));
    bad = train;
    bad[3].choice[2] = 4;  // unavailable at layer 2
    QVERIFY_THROWS_EXCEPTION(Error, fitLatencies(base, prior, available, bad));
    bad = train;
    bad[3].ms = std::nan("");
    QVERIFY_THROWS_EXCEPTION(Error, fitLatencies(base, prior, available, bad));
    QVERIFY_THROWS_EXCEPTION(Error, fitLatencies(base, prior, available, train, {}));
  }

  void hantDistilsScoresAndMeetsTheBudget() {
    HantOptions o;
    o.run_dir = run_;
    o.out_dir = (fs::path(tmp_.path().toStdString()) / "hant").string();
    o.speedup = 1.3;
    o.sweep = {1.2, 2.0};
    o.distill_steps = 40;
    o.finetune_steps = 10;
    o.finetune_lrs = {1e-3, 1e-4, 1e-3};
    o.latency_repeats = 2;
    o.fit_students = 12;
    o.fit_faster_share = 0.5;
    o.throughput_batch = 8;
    o.batch = 32;
    o.val_images = 64;
    std::vector<std::string> stages;
    const auto r = runHant(o, [&](const std::string& stage, double) {
      if (stages.empty() || stages.back() != stage) stages.push_back(stage);
    });
    QVERIFY(stages.size() >= 5 && stages.back() == "done");
    const int layers = static_cast<int>(r.layers.size());
    QCOMPARE(layers, 8);
    int trained = 0;
    for (int l = 0; l < layers; ++l) {
      const auto& dense = r.layers[l][static_cast<int>(HantOp::Dense)];
      QVERIFY(dense.available);
      QCOMPARE(dense.score, 0.0);          // the teacher's own conv: the network unchanged
      QCOMPARE(dense.latency_ms, 0.0);     // and its latency the teacher's
      QVERIFY(dense.distill_loss < 1e-10);  // it reproduces the layer exactly
      for (const auto& c : r.layers[l]) {
        if (!c.available || c.op == HantOp::Dense || c.op == HantOp::Identity) continue;
        QVERIFY2(c.distill_loss < c.distill_loss_start,
                 qPrintable(QString("layer %1 %2: %3 -> %4").arg(l).arg(QString::fromStdString(hantOpName(c.op)))
                                .arg(c.distill_loss_start).arg(c.distill_loss)));
        ++trained;
      }
    }
    QVERIFY(trained > 30);
    QVERIFY(r.chosen.predicted_ms <= r.budget_ms + 1e-12);
    QCOMPARE(r.budget_ms, r.teacher_ms / 1.3);
    QCOMPARE(int(r.chosen.choice.size()), layers);
    QVERIFY(r.chosen.measured_ms > 0 && r.chosen.teacher_measured_ms > 0);
    QVERIFY(r.student_test > 0 && r.student_val > 0);
    // Fine-tuning checked on the validation split every quarter of its steps (10 steps: every 2)
    // for each learning rate, each run from the distilled student (the two runs at 1e-3 see the
    // same batches: equal curves); the state kept is the best seen, the distilled student's
    // included, and measures so again.
    QCOMPARE(int(r.finetune_curve.size()), 15);
    double best = r.student_val_before;
    int best_step = 0;
    double best_lr = 0;
    for (size_t i = 0; i < r.finetune_curve.size(); ++i) {
      const auto& c = r.finetune_curve[i];
      QCOMPARE(c.lr, o.finetune_lrs[i / 5]);
      QCOMPARE(c.step, int(2 * (i % 5 + 1)));
      QVERIFY(c.val_loss > 0 && std::isfinite(c.val_loss));
      if (i >= 10) QCOMPARE(c.val_loss, r.finetune_curve[i - 10].val_loss);
      if (c.val_accuracy > best) {
        best = c.val_accuracy;
        best_step = c.step;
        best_lr = c.lr;
      }
    }
    QCOMPARE(r.student_val, best);
    QCOMPARE(r.student_best_step, best_step);
    QCOMPARE(r.student_best_lr, best_lr);
    QCOMPARE(r.chosen.val_accuracy, r.student_val);
    QCOMPARE(int(r.sweep.size()), 2);
    for (const auto& p : r.sweep) {
      QVERIFY(p.predicted_ms <= p.budget_ms + 1e-12);
      QVERIFY(p.iterations >= 1 && p.iterations <= 4);
      QCOMPARE(p.meets_budget, p.normalized_ms <= p.budget_ms);
      QVERIFY(std::abs(p.normalized_ms - p.measured_ms * r.teacher_ms / p.teacher_measured_ms) < 1e-9);
    }
    QCOMPARE(int(r.uniform.size()), kNumHantOps);
    QCOMPARE(r.uniform[0].predicted_ms, r.teacher_ms);  // every layer dense: the teacher
    QCOMPARE(r.uniform[0].val_accuracy, r.teacher_val);
    // The latency model: fitted to the random students, then to every student measured after
    // them (the sweep's, the uniform ones, the budget's), with a cross-validated error.
    int solved = 0;
    for (const auto& p : r.sweep) solved += p.iterations;
    QCOMPARE(int(r.samples.size()), 12 + solved + kNumHantOps + r.chosen.iterations);
    QVERIFY(r.fit_cv_error > 0 && r.fit_ridge > 0);
    // Each budget solved under budget × (1 − margin), the margin half the cross-validated error
    // of the fit to the random students.
    QVERIFY(r.margin > 0 && r.margin <= 0.25);
    for (const auto& p : r.sweep) QVERIFY(p.predicted_ms <= p.budget_ms * (1 - r.margin) + 1e-9);
    for (const auto& p : r.samples) QVERIFY(p.normalized_ms > 0 && int(p.choice.size()) == layers);
    // Half the random students (every other one) swap layers only to their faster half of
    // operations by the single-swap prior.
    int from_faster = 0;
    for (int i = 1; i < 12; i += 2) {
      for (int l = 0; l < layers; ++l) {
        const auto op = static_cast<int>(r.samples[i].choice[l]);
        if (op == 0) continue;
        std::vector<double> swaps;
        for (int a = 1; a < kNumHantOps; ++a)
          if (r.layers[l][a].available) swaps.push_back(r.layers[l][a].swap_ms);
        std::sort(swaps.begin(), swaps.end());
        QVERIFY2(r.layers[l][op].swap_ms <= swaps[(swaps.size() + 1) / 2 - 1],
                 qPrintable(QString("student %1 layer %2").arg(i).arg(l)));
        ++from_faster;
      }
    }
    QVERIFY(from_faster > 0);
    for (int l = 0; l < layers; ++l) QVERIFY(r.layers[l][0].swap_ms == 0);
    // The student exported like every network; each file gives the student's test accuracy.
    QVERIFY2(r.export_check.pass, qPrintable(QString::number(r.export_check.max_abs_err)));
    QCOMPARE(int(r.exported.size()), 4);
    const DatasetSpec data{"idx", (fs::path(tmp_.path().toStdString()) / "data").string()};
    for (const char* file : {"student.onnx", "student.pt", "student.json"}) {
      const auto e = evaluateExport((fs::path(o.out_dir) / file).string(), data);
      QVERIFY2(std::abs(e.accuracy - r.student_test) <= 1.0 / e.images + 1e-12,
               qPrintable(QString("%1: %2 vs %3").arg(file).arg(e.accuracy).arg(r.student_test)));
    }
    std::ifstream in(fs::path(o.out_dir) / "hant.json");
    const auto j = nlohmann::json::parse(in);
    QCOMPARE(QString::fromStdString(j["format"].get<std::string>()), QString("repnas-hant-2"));
    QCOMPARE(int(j["chosen"]["choice"].size()), layers);
    QCOMPARE(j["export"]["pass"].get<bool>(), true);
    QCOMPARE(int(j["samples"].size()), int(r.samples.size()));
    QCOMPARE(j["fit"]["cv_relative_error"].get<double>(), r.fit_cv_error);
    QCOMPARE(j["fit"]["margin"].get<double>(), r.margin);
    QCOMPARE(j["finetune_best_step"].get<int>(), r.student_best_step);
    QCOMPARE(int(j["finetune_val_curve"].size()), 15);
    QCOMPARE(j["finetune_best_lr"].get<double>(), r.student_best_lr);
    QCOMPARE(int(j["finetune_lrs"].size()), 3);

    // A budget below what any choice can take: refused with the least (the model's least: the
    // teacher plus each layer's cheapest change; a budget must be > 0 in any case).
    const double least = leastHantLatency(r);
    try {
      solveHantBudget(r, least - 0.01 * std::abs(least) - 1e-6);
      QFAIL("an impossible budget was accepted");
    } catch (const Error& e) {
      QVERIFY2(QString(e.what()).contains("is below") && QString(e.what()).contains("the least any choice"), e.what());
    }
    // At the least itself, the cheapest choice.
    const auto cheapest = solveHantBudget(r, least + 1e-9);
    QVERIFY(std::abs(cheapest.predicted_ms - least) < 1e-9);
    QCOMPARE(predictedHantLatency(r, std::vector<HantOp>(layers, HantOp::Dense)), r.teacher_ms);
    // No or a bad fine-tuning learning rate: refused before anything runs.
    for (const auto& lrs : {std::vector<double>{}, std::vector<double>{0.0}, std::vector<double>{1e-3, std::nan("")}}) {
      auto bad = o;
      bad.finetune_lrs = lrs;
      try {
        runHant(bad);
        QFAIL("a bad learning rate was accepted");
      } catch (const Error& e) {
        QVERIFY2(QString(e.what()).contains("--finetune-lr"), e.what());
      }
    }
    // A budget of 0 is refused before anything runs.
    o.speedup = 0;
    o.sweep.clear();
    o.latency_budget_ms = 0;
    QVERIFY_THROWS_EXCEPTION(Error, runHant(o));
    // Not a finished run.
    o.run_dir = tmp_.path().toStdString();
    QVERIFY_THROWS_EXCEPTION(Error, runHant(o));
  }
};

QTEST_GUILESS_MAIN(TestHant)
#include "test_hant.moc"
