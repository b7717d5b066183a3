// The cost model (issue 17): measured costs are positive and ordered, the memory is the memory
// a branch's forward really keeps, the table round-trips through costs.json, and the cache is
// measured again when its key changes, when it is damaged, or when asked.
#include <QtTest>

#include <QTemporaryDir>

#include <cmath>
#include <fstream>

#include <nlohmann/json.hpp>

#include "repnas/costs.h"
#include "repnas/error.h"

using namespace repnas;

// AddressSanitizer's allocator is not glibc's: the heap measurement reads 0 under it.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kHeapMeasured = false;
#else
constexpr bool kHeapMeasured = true;
#endif

class TestCosts : public QObject {
  Q_OBJECT

  QTemporaryDir tmp_;

  CostRequest tinyRequest(int batch = 8) const {
    CostRequest r;
    r.backbone = makeBackbone("tiny", 1, 12, 12, 10);
    r.batch = batch;
    r.threads = 1;
    r.repeats = 2;
    return r;
  }

 private slots:
  void measuredCostsArePositiveAndCoverEveryBranch() {
    const auto request = tinyRequest();
    const auto c = measureTrainingCosts(request);
    QCOMPARE(int(c.branches.size()), request.backbone.numLayers());
    QCOMPARE(c.threads, 1);
    QVERIFY(!c.cpu.empty() && !c.torch_version.empty());
    const auto identity = request.backbone.layerHasIdentity();
    for (int l = 0; l < request.backbone.numLayers(); ++l) {
      for (const auto& b : c.branches[l]) {
        QVERIFY(b.present);
        QVERIFY(b.ms > 0 && b.ms_low <= b.ms && b.ms <= b.ms_high);
        QVERIFY(b.mb > 0 || !kHeapMeasured);
      }
      QCOMPARE(c.identity[l].present, bool(identity[l]));
    }
    // The whole step: the every-branch step costs more than the base (stem, head, update).
    QVERIFY(c.base.present && c.all_branches.present);
    QVERIFY(c.all_branches.ms > 0 && c.all_branches.ms > c.base.ms);
    const auto table = trainingCostTable(c);
    QCOMPARE(int(table.ms.size()), request.backbone.numLayers());
    QCOMPARE(table.ms[2][1], c.branches[2][1].ms);
    QCOMPARE(table.msOf({}), c.base.ms);
    std::vector<BranchMask> one(request.backbone.numLayers());
    one[1].set(2);
    QCOMPARE(table.msOf(one), c.base.ms + c.branches[1][2].ms);
    QCOMPARE(table.mbOf(one), c.base.mb + c.branches[1][2].mb);
    if (!kHeapMeasured) return;
    // The memory is what the forward keeps for the backward, its output not counted (the
    // network sums the branches' outputs at once): the 1x1 branch of layer 0 (conv → BN) keeps
    // its conv output, [8, C, 12, 12] float32.
    const auto& layer0 = request.backbone.layers[0].block;
    const double maps = 1.0 * 8 * layer0.out_channels * 12 * 12 * 4 / (1024.0 * 1024.0);
    const double mb = c.branches[0][static_cast<int>(BranchKind::OneByOne)].mb;
    QVERIFY2(std::abs(mb - maps) <= 0.05 * maps, qPrintable(QString("%1 MiB, expected %2").arg(mb).arg(maps)));
    // A two-stage branch keeps more than a one-stage one of the same layer.
    QVERIFY(c.branches[0][static_cast<int>(BranchKind::OneByOneKxK)].mb > mb);
  }

  void theTableRoundTripsAndBadFilesAreRefused() {
    const auto c = measureTrainingCosts(tinyRequest());
    const auto text = trainingCostsToJson(c);
    const auto back = trainingCostsFromJson(text);
    QCOMPARE(QString::fromStdString(trainingCostsToJson(back)), QString::fromStdString(text));
    QVERIFY(back.sameKey(c));
    auto refused = [&](const std::function<void(nlohmann::json&)>& edit, const char* expected) {
      auto j = nlohmann::json::parse(text);
      edit(j);
      try {
        trainingCostsFromJson(j.dump());
        QFAIL(expected);
      } catch (const Error& e) {
        QVERIFY2(QString(e.what()).contains(expected), e.what());
      }
    };
    refused([](nlohmann::json& j) { j["format"] = "other"; }, "is not repnas-costs-3");
    refused([](nlohmann::json& j) { j["batch"] = 1e12; }, "field 'batch'");
    refused([](nlohmann::json& j) { j["layers"][0]["branches"]["KxK"]["ms"] = "fast"; }, "field 'ms'");
    refused([](nlohmann::json& j) { j["layers"][0]["branches"].erase("1x1"); }, "field '1x1'");
  }

  void theCacheIsReusedAndMeasuredAgainWhenItsKeyChanges() {
    const auto request = tinyRequest();
    const std::string path = tmp_.filePath("costs.json").toStdString();
    bool measured = false;
    const auto first = cachedTrainingCosts(request, path, false, &measured);
    QVERIFY(measured);
    const auto second = cachedTrainingCosts(request, path, false, &measured);
    QVERIFY(!measured);
    QCOMPARE(QString::fromStdString(trainingCostsToJson(second)), QString::fromStdString(trainingCostsToJson(first)));
    cachedTrainingCosts(request, path, /*remeasure=*/true, &measured);
    QVERIFY(measured);
    // Another machine's (or LibTorch's) table under the same name: measured again, replaced.
    auto j = nlohmann::json::parse(trainingCostsToJson(first));
    j["cpu"] = "another CPU";
    std::ofstream(path) << j.dump();
    const auto replaced = cachedTrainingCosts(request, path, false, &measured);
    QVERIFY(measured && replaced.cpu == first.cpu);
    // A damaged file: measured again, not an error.
    std::ofstream(path) << "{\"format\": ";
    cachedTrainingCosts(request, path, false, &measured);
    QVERIFY(measured);
    // Another batch is another key.
    auto other = request;
    other.batch = 4;
    cachedTrainingCosts(other, path, false, &measured);
    QVERIFY(measured);
    QVERIFY(defaultCostCachePath(other) != defaultCostCachePath(request));
    // A table of format 1 (before the base step was measured) still reads, has no base, cannot
    // count a cost budget, and the cache measures it again.
    auto v1 = nlohmann::json::parse(trainingCostsToJson(first));
    v1["format"] = "repnas-costs-1";
    v1.erase("base");
    v1.erase("all_branches");
    const auto old = trainingCostsFromJson(v1.dump());
    QVERIFY(!old.base.present && old.branches.size() == first.branches.size());
    QVERIFY_THROWS_EXCEPTION(Error, trainingCostTable(old));
    std::ofstream(path) << v1.dump();
    QVERIFY(cachedTrainingCosts(request, path, false, &measured).base.present);
    QVERIFY(measured);
    // Format 2 (MiB with the output) reads, and the cache measures it again too.
    auto v2 = nlohmann::json::parse(trainingCostsToJson(first));
    v2["format"] = "repnas-costs-2";
    QCOMPARE(trainingCostsFromJson(v2.dump()).format, 2);
    std::ofstream(path) << v2.dump();
    QCOMPARE(cachedTrainingCosts(request, path, false, &measured).format, 3);
    QVERIFY(measured);
  }
};

QTEST_APPLESS_MAIN(TestCosts)
#include "test_costs.moc"
