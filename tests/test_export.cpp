// Fold + verify + export of a trained run, the round trip through every format, refusal, and
// the independent checkers (OpenCV dnn, PyTorch, onnx.checker) in Debian's Python.
#include <torch/script.h>
#include <torch/torch.h>

#include <QtTest>

#include <QProcess>
#include <QTemporaryDir>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "data/data.h"
#include "export/export_internal.h"
#include "fold/folded_model.h"
#include "formats/onnx_io.h"
#include "hant/alternatives.h"
#include "nn/network.h"
#include "formats/run_files.h"
#include "repnas/engine.h"
#include "repnas/error.h"
#include "repnas/export.h"
#include "synthetic_data.h"

using namespace repnas;
namespace fs = std::filesystem;

namespace {

void writeFloats(const std::string& path, const torch::Tensor& t) {
  const auto c = t.contiguous().to(torch::kFloat);
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(c.data_ptr<float>()), c.numel() * sizeof(float));
}

}  // namespace

class TestExport : public QObject {
  Q_OBJECT
  QTemporaryDir tmp_;
  std::string data_, run_;

  fs::path path(const std::string& name) const { return fs::path(tmp_.path().toStdString()) / name; }

 private Q_SLOTS:
  void initTestCase() {
    QVERIFY(tmp_.isValid());
    data_ = path("data").string();
    fs::create_directories(data_);
    testing::writeIdxDataset(data_, 160, 120, 12, 12);
    // A short real search run: warm-up, search, fix, train.
    RunConfig c;
    c.dataset = "idx";
    c.data_dir = data_;
    c.epochs = 3;
    c.warmup_epochs = 1;
    c.search_epochs = 1;
    c.fixed_epochs = 1;
    c.batch_size = 32;
    c.threads = 1;
    c.arch_lr = 0.05;
    run_ = path("run").string();
    Engine engine(c, run_);
    const auto r = engine.run();
    QVERIFY2(r.status == "completed", r.message.c_str());
  }

  void exportWritesVerifiedFilesThatEvaluateTheSame() {
    ExportRequest req;
    req.run_dir = run_;
    req.onnx_path = path("m.onnx").string();
    req.torchscript_path = path("m.pt").string();
    req.spec_path = path("m.json").string();
    req.threads = 1;
    const auto result = exportRun(req);
    QVERIFY2(result.exported, result.message.c_str());
    const auto& r = result.report;
    QCOMPARE(r.images, int64_t(120));
    QVERIFY2(r.pass, r.summary().c_str());
    QVERIFY(r.max_abs_err <= r.tolerance);
    QCOMPARE(r.accuracy_folded, r.accuracy_multi_branch);
    QCOMPARE(result.written.size(), size_t(4));
    for (const auto& f : result.written) QVERIFY2(fs::exists(f), f.c_str());
    QVERIFY(fs::exists(path("m.safetensors")));

    const DatasetSpec data{"idx", data_};
    for (const auto& file : {req.onnx_path, req.torchscript_path, req.spec_path, run_}) {
      const auto e = evaluateExport(file, data, 0, 1);
      QCOMPARE(e.images, int64_t(120));
      QVERIFY2(std::abs(e.accuracy - r.accuracy_folded) < 1e-12, (file + " " + e.format).c_str());
    }

    // The spec says what a user must know.
    std::ifstream in(req.spec_path);
    const auto spec = nlohmann::json::parse(in);
    QCOMPARE(spec["input"]["channels"].get<int>(), 1);
    QCOMPARE(spec["input"]["mean"].size(), size_t(1));
    QCOMPARE(spec["layers"].size(), size_t(8));
    QVERIFY(spec["verification"]["pass"].get<bool>());
    int kept = 0;
    for (const auto& l : spec["layers"])
      for (const auto& k : l["kept"]) kept += k.get<std::string>() != "id";
    QCOMPARE(kept, 16);  // the budget
  }

  void torchScriptLoadsInCppAndMatchesTheTrainedNetwork() {
    auto module = torch::jit::load(path("m.pt").string());
    module.eval();
    const auto x = torch::randn({5, 1, 12, 12});
    const auto y = module.forward({x}).toTensor();
    // The same logits from the multi-branch network of the run, in eval mode.
    auto archive = readRunArchive((fs::path(run_) / "weights.pt").string());
    QVERIFY(archive.checked);
    const auto meta = nlohmann::json::parse(archive.meta);
    auto spec = backboneFor(configFromJson(meta["config"].dump()), 1, 12, 12, 10);
    Network net(spec);
    torch::serialize::InputArchive net_archive;
    archive.content.read("network", net_archive);
    net->load(net_archive);
    net->eval();
    torch::NoGradGuard no_grad;
    const auto expected = net->forward(x, maskFromBits(meta["mask"].get<std::vector<int>>()));
    const double scale = std::max(1.0, expected.abs().max().item<double>());
    QVERIFY((y - expected).abs().max().item<double>() <= 1e-5 * scale);
    QCOMPARE(module.attr("input_mean").toTensor().numel(), int64_t(1));
  }

  void independentRuntimesAgree() {
    const QString python = "/usr/bin/python3";
    if (!QFile::exists(python)) QSKIP("Debian's /usr/bin/python3 is not installed");
    auto module = torch::jit::load(path("m.pt").string());
    torch::manual_seed(11);
    const auto x = torch::randn({6, 1, 12, 12});
    torch::NoGradGuard no_grad;
    const auto y = module.forward({x}).toTensor();
    writeFloats(path("x.f32").string(), x);
    writeFloats(path("y.f32").string(), y);
    QProcess p;
    p.start(python, {QString(REPNAS_SOURCE_DIR) + "/tests/python/check_exports.py",
                     QString::fromStdString(path("m.onnx").string()),
                     QString::fromStdString(path("m.pt").string()),
                     QString::fromStdString(path("x.f32").string()),
                     QString::fromStdString(path("y.f32").string()), "6", "1", "12", "12", "10"});
    QVERIFY(p.waitForFinished(300000));
    const QString out = QString::fromUtf8(p.readAllStandardOutput() + p.readAllStandardError());
    qInfo().noquote() << out;
    if (p.exitCode() == 77) QSKIP(qPrintable(out.trimmed()));
    QVERIFY2(p.exitCode() == 0, qPrintable(out));
    QVERIFY(out.contains("opencv dnn (onnx)") && out.contains("torch.jit.load"));
  }

  void everyHantOperationExportsAndIndependentRuntimesAgree() {
    // A network of HANT's operations (chains, an identity with a shortcut, strides on one axis
    // at a time, groups, depthwise, a projection), random weights: its plain-data form run with
    // plain torch ops equals the modules; every file reproduces it; OpenCV dnn and PyTorch agree.
    torch::manual_seed(5);
    torch::NoGradGuard no_grad;
    struct L { HantOp op; int in, out, stride, shortcut_from; bool projection; };
    const std::vector<L> plan = {{HantOp::Dense, 1, 8, 1, -1, false},         {HantOp::DepthwisePointwise, 8, 8, 1, 1, false},
                                 {HantOp::Separable, 8, 16, 2, -1, false},     {HantOp::Identity, 16, 16, 1, 2, true},
                                 {HantOp::LowRankHalf, 16, 16, 1, 3, false},   {HantOp::Grouped4, 16, 32, 2, 4, true},
                                 {HantOp::Pointwise, 32, 32, 1, -1, false},    {HantOp::LowRankQuarter, 32, 32, 1, -1, false},
                                 {HantOp::Grouped2, 32, 32, 1, 6, false}};
    FoldedModel m;
    m.backbone = "test";
    m.mode = "hant";
    m.in_channels = 1;
    m.height = m.width = 12;
    m.num_classes = 10;
    m.mean = {0.5};
    m.std = {0.25};
    std::vector<HantAlt> alts;
    std::vector<torch::nn::Conv2d> projections;
    std::vector<int> input_channels;
    for (size_t l = 0; l < plan.size(); ++l) {
      const auto& p = plan[l];
      BlockSpec b;
      b.in_channels = p.in;
      b.out_channels = p.out;
      b.stride = p.stride;
      QVERIFY(hantOpAvailable(p.op, b));
      alts.push_back(HantAlt(p.op, b));
      for (auto& c : alts.back()->convs)
        if (c->bias.defined()) c->bias.normal_();
      FoldedLayer f;
      f.name = "layer" + std::to_string(l);
      f.operation = hantOpName(p.op);
      f.in_channels = p.in;
      f.out_channels = p.out;
      for (const auto& c : alts.back()->convs) f.convs.push_back(foldedConvOf(*c));
      f.shortcut_from = p.shortcut_from;
      input_channels.push_back(p.in);
      projections.push_back(nullptr);
      if (p.projection) {
        const int from_channels = plan[static_cast<size_t>(p.shortcut_from)].in;
        // Both projections here skip a stride-2 layer's input: 12x12 -> 6x6, 6x6 -> 3x3.
        projections.back() = torch::nn::Conv2d(torch::nn::Conv2dOptions(from_channels, p.out, 1).stride(2));
        f.shortcut_projection = true;
        f.projection_stride = 2;
        f.projection_weight = toVector(projections.back()->weight);
        f.projection_bias = toVector(projections.back()->bias);
      }
      m.layers.push_back(f);
    }
    torch::nn::Linear head(32, 10);
    m.head_weight = toVector(head->weight);
    m.head_bias = toVector(head->bias);
    validateFoldedModel(m);
    QCOMPARE(m.layers[3].convs.size(), size_t(0));
    QCOMPARE(m.layers[2].convs[0].stride_w, 2);  // 1xK strides along the width, Kx1 along the height
    QCOMPARE(m.layers[2].convs[1].stride_h, 2);

    const auto x = torch::randn({6, 1, 12, 12});
    std::vector<torch::Tensor> inputs;
    auto h = x;
    for (size_t l = 0; l < plan.size(); ++l) {
      inputs.push_back(h);
      auto pre = alts[l]->forward(h);
      if (plan[l].shortcut_from >= 0) {
        const auto& skipped = inputs[static_cast<size_t>(plan[l].shortcut_from)];
        pre = pre + (projections[l] ? projections[l]->forward(skipped) : skipped);
      }
      h = torch::relu(pre);
    }
    const auto reference = head->forward(torch::adaptive_avg_pool2d(h, {1, 1}).flatten(1));
    const double scale = std::max(1.0, reference.abs().max().item<double>());
    QVERIFY((runFoldedModel(m, x) - reference).abs().max().item<double>() <= 1e-5 * scale);

    const auto written = writeModelFiles(m, VerificationReport{}, x, reference,
                                         {path("hant.onnx").string(), path("hant.pt").string(), path("hant.json").string()});
    QCOMPARE(int(written.size()), 4);
    const auto back = readOnnx(path("hant.onnx").string());
    QCOMPARE(back.layers.size(), plan.size());
    for (size_t l = 0; l < plan.size(); ++l) {
      QCOMPARE(back.layers[l].convs.size(), m.layers[l].convs.size());
      QCOMPARE(QString::fromStdString(back.layers[l].operation), QString::fromStdString(m.layers[l].operation));
      QCOMPARE(back.layers[l].shortcut_from, plan[l].shortcut_from);
    }
    QCOMPARE(readSpec(path("hant.json").string()).layers[1].convs[0].groups, 8);  // depthwise

    const QString python = "/usr/bin/python3";
    if (!QFile::exists(python)) QSKIP("Debian's /usr/bin/python3 is not installed");
    writeFloats(path("hx.f32").string(), x);
    writeFloats(path("hy.f32").string(), reference);
    QProcess p;
    p.start(python, {QString(REPNAS_SOURCE_DIR) + "/tests/python/check_exports.py",
                     QString::fromStdString(path("hant.onnx").string()), QString::fromStdString(path("hant.pt").string()),
                     QString::fromStdString(path("hx.f32").string()), QString::fromStdString(path("hy.f32").string()),
                     "6", "1", "12", "12", "10"});
    QVERIFY(p.waitForFinished(300000));
    const QString out = QString::fromUtf8(p.readAllStandardOutput() + p.readAllStandardError());
    qInfo().noquote() << out;
    if (p.exitCode() == 77) QSKIP(qPrintable(out.trimmed()));
    QVERIFY2(p.exitCode() == 0, qPrintable(out));
  }

  void olderFilesStillLoad() {
    // A repnas-spec-1 file (one square conv per layer, its fields on the layer) is read as one conv.
    const auto dir = path("spec1");
    fs::create_directories(dir);
    FoldedModel m;
    m.in_channels = 1;
    m.height = m.width = 12;
    m.num_classes = 2;
    m.mean = {0.5};
    m.std = {0.25};
    FoldedLayer f;
    f.name = "layer0";
    f.in_channels = 1;
    f.out_channels = 2;
    FoldedConv c;
    c.in_channels = 1;
    c.out_channels = 2;
    c.stride_h = c.stride_w = 2;
    for (int i = 0; i < 18; ++i) c.weight.push_back(0.1f * static_cast<float>(i));
    c.bias = {0.5f, -1.f};
    f.convs = {c};
    m.layers = {f};
    m.head_weight = {1.f, 2.f, 3.f, 4.f};
    m.head_bias = {0.f, 1.f};
    writeSpec(m, VerificationReport{}, (dir / "m.json").string());
    // Rewrite the JSON the way repnas-spec-1 had it (the safetensors are the same).
    nlohmann::json j;
    {
      std::ifstream in(dir / "m.json");
      j = nlohmann::json::parse(in);
    }
    j["format"] = "repnas-spec-1";
    auto& layer = j["layers"][0];
    layer.erase("convs");
    layer["kernel_size"] = 3;
    layer["stride"] = 2;
    layer["padding"] = 1;
    layer["groups"] = 1;
    std::ofstream(dir / "m.json") << j.dump(2);
    const auto back = readSpec((dir / "m.json").string());
    QCOMPARE(back.layers[0].convs.size(), size_t(1));
    QCOMPARE(back.layers[0].convs[0].stride_h, 2);
    QVERIFY(back.layers[0].convs[0].weight == c.weight);
    layer["padding"] = 2;
    std::ofstream(dir / "m.json") << j.dump(2);
    try {
      readSpec((dir / "m.json").string());
      QFAIL("padding 2 on a 3x3 kernel was read");
    } catch (const Error& e) {
      QVERIFY2(QString(e.what()).contains("padding 2 is not kernel_size / 2"), e.what());
    }
  }

  void failedVerificationRefusesUnlessForced() {
    // Break one BN's running variance in a copy of the run: the eval-mode network now gives
    // NaN, which the verification must catch.
    const auto broken = path("broken");
    fs::create_directories(broken);
    fs::copy_file(fs::path(run_) / "config.json", broken / "config.json");
    {
      auto archive = readRunArchive((fs::path(run_) / "weights.pt").string());
      const c10::IValue meta(archive.meta);
      const auto meta_json = nlohmann::json::parse(archive.meta);
      auto spec = backboneFor(configFromJson(meta_json["config"].dump()), 1, 12, 12, 10);
      Network net(spec);
      torch::serialize::InputArchive net_archive;
      archive.content.read("network", net_archive);
      net->load(net_archive);
      torch::NoGradGuard g;
      // Layer 3's identity BN: always part of the folded layer, whichever branches were found.
      net->blocks_[3]->identity()->as<IdentityBranch>()->bn->running_var.fill_(-1);
      torch::serialize::OutputArchive out, out_net;
      out.write("meta", meta);
      net->save(out_net);
      out.write("network", out_net);
      out.save_to((broken / "weights.pt").string());  // format 1: still read (unchecked)
    }
    ExportRequest req;
    req.run_dir = broken.string();
    req.onnx_path = path("broken.onnx").string();
    req.threads = 1;
    auto result = exportRun(req);
    QVERIFY(!result.exported);
    QVERIFY2(QString::fromStdString(result.message).contains("refusing to export"), result.message.c_str());
    QVERIFY(!fs::exists(req.onnx_path));
    req.force = true;
    result = exportRun(req);
    QVERIFY(result.exported);
  }

  // Ctrl+C or SIGTERM reaches an export as `cancelled`: asked after loading and between the
  // verification batches. Cancelled at each of those points in turn, the export writes nothing.
  void cancelledExportWritesNothingAtEveryPoint() {
    ExportRequest req;
    req.run_dir = run_;
    req.onnx_path = path("c.onnx").string();
    req.torchscript_path = path("c.pt").string();
    req.spec_path = path("c.json").string();
    req.threads = 1;
    int asked = 0;
    req.cancelled = [&] { ++asked; return false; };
    QVERIFY(exportRun(req).exported);
    QVERIFY2(asked >= 3, "asked after loading, per verification batch and before writing");
    for (const auto& f : {"c.onnx", "c.pt", "c.json", "c.safetensors"}) fs::remove(path(f));
    for (int at = 1; at <= asked; ++at) {
      int calls = 0;
      req.cancelled = [&] { return ++calls == at; };
      const auto result = exportRun(req);
      QVERIFY(result.cancelled);
      QVERIFY(!result.exported);
      QCOMPARE(QString::fromStdString(result.message), QString("cancelled: nothing was written"));
      QVERIFY(result.written.empty());
      for (const auto& f : {"c.onnx", "c.pt", "c.json", "c.safetensors"})
        QVERIFY2(!fs::exists(path(f)), f);
    }
  }

  void unwritablePathIsAClearErrorAndLeavesNothing() {
    ExportRequest req;
    req.run_dir = run_;
    req.onnx_path = path("no/such/dir/m.onnx").string();
    req.threads = 1;
    try {
      exportRun(req);
      QFAIL("expected an error");
    } catch (const Error& e) {
      QVERIFY2(QString(e.what()).contains("cannot write") && QString(e.what()).contains("m.onnx"), e.what());
    }
    QVERIFY(!fs::exists(path("no")));
    // Nothing half-written next to a good file either.
    for (const auto& entry : fs::directory_iterator(tmp_.path().toStdString()))
      QVERIFY2(entry.path().string().find(".tmp") == std::string::npos, entry.path().c_str());
  }

  void notARunIsAClearError() {
    ExportRequest req;
    req.run_dir = data_;
    req.onnx_path = path("x.onnx").string();
    QVERIFY_THROWS_EXCEPTION(Error, exportRun(req));
    QVERIFY_THROWS_EXCEPTION(Error, evaluateExport(path("nothing.onnx").string(), {"idx", data_}));
  }
};

QTEST_GUILESS_MAIN(TestExport)
#include "test_export.moc"
