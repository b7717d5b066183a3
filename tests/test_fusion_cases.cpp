// The standard equivalence cases (the same ones `repnas verify-fusion` prints) and proof that
// the check fails when the maths is wrong, through the engine's public API.
#include <QtTest>

#include <set>

#include "repnas/error.h"
#include "repnas/fusion_check.h"

using namespace repnas;
Q_DECLARE_METATYPE(repnas::FusionCase)

namespace {

bool hasKind(const FusionCase& c, BranchKind k) {
  return c.block.branches.test(static_cast<size_t>(k));
}

bool isSequential(const FusionCase& c) {
  return hasKind(c, BranchKind::OneByOneAvg) || hasKind(c, BranchKind::OneByOneKxK);
}

bool isAsymmetric(const FusionCase& c) {
  return hasKind(c, BranchKind::OneByK) || hasKind(c, BranchKind::KByOne);
}

}  // namespace

class TestFusionCases : public QObject {
  Q_OBJECT
 private Q_SLOTS:
  void standardCasesCoverTheSpace() {
    const auto cases = standardFusionCases();
    std::set<int> kernels, strides;
    std::set<std::string> names;
    bool grouped = false, depthwise = false, channel_change_s1 = false, channel_change_s2 = false;
    bool odd = false, even = false, non_square = false, identity_alone = false;
    std::set<int> single_kinds;
    for (const auto& c : cases) {
      QVERIFY2(names.insert(c.name()).second, c.name().c_str());  // names are unique
      kernels.insert(c.block.kernel_size);
      strides.insert(c.block.stride);
      grouped |= c.block.groups > 1 && !c.block.isDepthwise();
      depthwise |= c.block.isDepthwise();
      channel_change_s1 |= c.block.in_channels != c.block.out_channels && c.block.stride == 1;
      channel_change_s2 |= c.block.in_channels != c.block.out_channels && c.block.stride == 2;
      odd |= c.height % 2 == 1;
      even |= c.height % 2 == 0;
      non_square |= c.height != c.width;
      identity_alone |= c.block.branches.none() && c.block.hasIdentityBranch();
      if (c.block.branches.count() == 1)
        for (BranchKind k : kAllBranchKinds)
          if (hasKind(c, k)) single_kinds.insert(static_cast<int>(k));
    }
    QVERIFY(kernels == (std::set<int>{3, 5}));
    QVERIFY(strides == (std::set<int>{1, 2}));
    QVERIFY(grouped && depthwise && channel_change_s1 && channel_change_s2);
    QVERIFY(odd && even && non_square && identity_alone);
    QCOMPARE(single_kinds.size(), size_t(kNumBranchKinds));
  }

  void caseNamesSayWhatIsTested() {
    FusionCase c;
    c.block.branches = BranchMask().set(static_cast<size_t>(BranchKind::OneByOneAvg));
    c.block.in_channels = 16;
    c.block.out_channels = 32;
    c.block.stride = 2;
    c.height = 15;
    c.width = 12;
    QCOMPARE(QString::fromStdString(c.name()), QString("1x1-AVG k3 s2 g1 16->32 15x12"));
    c.block.stride = 1;
    c.block.out_channels = 16;
    c.block.groups = 16;
    c.block.branches = allBranches();
    QCOMPARE(QString::fromStdString(c.name()), QString("all+id k3 s1 gdw 16->16 15x12"));
  }

  void everyStandardCaseIsExact_data() {
    QTest::addColumn<FusionCase>("fusion_case");
    for (const auto& c : standardFusionCases()) QTest::newRow(c.name().c_str()) << c;
  }
  void everyStandardCaseIsExact() {
    QFETCH(FusionCase, fusion_case);
    const auto r = runFusionCase(fusion_case);
    QVERIFY2(r.pass, qPrintable(QString("max abs err %1, max |y| %2")
                                     .arg(r.max_abs_err)
                                     .arg(r.max_abs_y)));
    QVERIFY(r.max_abs_y > 0.1);  // a trivially zero output would prove nothing
    QVERIFY(r.rel_err < 1e-5);
  }

  // The classic bug: padding the 1x1 stage's output with zeros instead of β − μγ/σ. The
  // interior still matches; only the border breaks, so the suite must look at the border.
  void zeroPaddingInsteadOfBatchNormPaddingBreaksTheBorder() {
    int checked = 0;
    for (auto c : standardFusionCases()) {
      if (!isSequential(c)) continue;
      c.fault = FusionFault::ZeroPadding;
      const auto r = runFusionCase(c);
      QVERIFY2(!r.pass, r.name.c_str());
      QVERIFY2(r.max_abs_err_border > fusionTolerance(r.max_abs_y), r.name.c_str());
      QVERIFY2(r.max_abs_err_interior <= fusionTolerance(r.max_abs_y), r.name.c_str());
      ++checked;
    }
    QVERIFY(checked > 20);
  }

  void asymmetricKernelOnWrongAxisIsCaught() {
    int checked = 0;
    for (auto c : standardFusionCases()) {
      if (!isAsymmetric(c)) continue;
      c.fault = FusionFault::AsymmetricWrongAxis;
      const auto r = runFusionCase(c);
      QVERIFY2(!r.pass, r.name.c_str());
      ++checked;
    }
    QVERIFY(checked > 20);
  }

  void perturbedKernelIsCaught() {
    for (auto c : standardFusionCases()) {
      c.fault = FusionFault::PerturbedKernel;
      const auto r = runFusionCase(c);
      QVERIFY2(!r.pass, r.name.c_str());
    }
  }

  void trainModeReferenceIsCaught() {
    FusionCase c;
    c.batch = 4;
    c.fault = FusionFault::TrainModeReference;
    const auto r = runFusionCase(c);
    QVERIFY(!r.pass);
  }

  void resultsAreReproducibleFromTheSeed() {
    const auto c = standardFusionCases().front();
    QCOMPARE(runFusionCase(c).max_abs_err, runFusionCase(c).max_abs_err);
  }

  void invalidBlocksAreRefusedWithTheField() {
    auto expectError = [](BlockSpec spec, const QString& word) {
      FusionCase c;
      c.block = spec;
      try {
        runFusionCase(c);
        QFAIL("expected an error");
      } catch (const Error& e) {
        QVERIFY2(QString(e.what()).contains(word), e.what());
      }
    };
    BlockSpec s;
    s.kernel_size = 4;
    expectError(s, "kernel_size");
    s = BlockSpec();
    s.groups = 3;
    expectError(s, "groups");
    s = BlockSpec();
    s.stride = 3;
    expectError(s, "stride");
  }
};

QTEST_GUILESS_MAIN(TestFusionCases)
#include "test_fusion_cases.moc"
