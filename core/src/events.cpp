#include "repnas/events.h"

#include <nlohmann/json.hpp>

#include <chrono>

#include "repnas/error.h"

namespace repnas {

using nlohmann::json;

std::string phaseName(Phase phase) {
  switch (phase) {
    case Phase::Warmup: return "warmup";
    case Phase::Search: return "search";
    case Phase::Fixed: return "fixed";
    case Phase::Train: return "train";
  }
  return "?";
}

std::optional<Phase> parsePhase(const std::string& name) {
  for (Phase p : {Phase::Warmup, Phase::Search, Phase::Fixed, Phase::Train})
    if (phaseName(p) == name) return p;
  return std::nullopt;
}

std::optional<std::string> budgetEditRefusal(const std::string& mode, bool architecture_fixed) {
  if (mode != "search") return "mode " + mode + " trains a fixed mask";
  if (architecture_fixed)
    return std::string("the architecture is fixed (phase fixed): budget changes apply only before the fix");
  return std::nullopt;
}

std::optional<std::string> applyBudgetEdit(const Command& c, int layers, Budget& budget) {
  Budget next = budget;
  switch (c.type) {
    case Command::Type::SetBudget: next.k = c.k; break;
    case Command::Type::SetLayerLimits:
    case Command::Type::SetPin:
      if (c.layer < 0 || c.layer >= layers)
        return "layer " + std::to_string(c.layer) + " does not exist (the network has " +
               std::to_string(layers) + " layers)";
      if (c.type == Command::Type::SetPin) {
        next.pins[c.layer][static_cast<int>(c.branch)] = c.pin;
      } else {
        if (c.min >= 0) next.layer_min[c.layer] = c.min;
        if (c.max >= 0) next.layer_max[c.layer] = c.max;
      }
      break;
    default: return "not a budget edit: " + c.describe();
  }
  if (auto problem = budgetProblem(next, layers)) return problem;
  budget = std::move(next);
  return std::nullopt;
}

std::string Command::describe() const {
  switch (type) {
    case Type::Pause: return "pause";
    case Type::Resume: return "resume";
    case Type::Stop: return "stop";
    case Type::SetBudget: return "set budget k=" + std::to_string(k);
    case Type::SetLayerLimits:
      return "set layer " + std::to_string(layer) + " limits min=" +
             (min < 0 ? std::string("unchanged") : std::to_string(min)) +
             " max=" + (max < 0 ? std::string("unchanged") : std::to_string(max));
    case Type::SetPin:
      return "pin layer " + std::to_string(layer) + " " + std::string(branchName(branch)) + " " +
             pinName(pin);
  }
  return "?";
}

std::vector<int> maskToBits(const std::vector<BranchMask>& masks) {
  std::vector<int> bits;
  bits.reserve(masks.size() * kNumBranchKinds);
  for (const auto& m : masks)
    for (int j = 0; j < kNumBranchKinds; ++j) bits.push_back(m.test(j) ? 1 : 0);
  return bits;
}

std::vector<BranchMask> maskFromBits(const std::vector<int>& bits) {
  if (bits.size() % kNumBranchKinds)
    throw Error("a mask needs 6 entries per layer, got " + std::to_string(bits.size()));
  std::vector<BranchMask> masks(bits.size() / kNumBranchKinds);
  for (size_t i = 0; i < bits.size(); ++i)
    if (bits[i]) masks[i / kNumBranchKinds].set(i % kNumBranchKinds);
  return masks;
}

namespace {

json budgetJson(const Budget& b) {
  json pins = json::array();
  for (size_t l = 0; l < b.pins.size(); ++l)
    for (int j = 0; j < kNumBranchKinds; ++j)
      if (b.pins[l][j] != Pin::Auto)
        pins.push_back({{"layer", l},
                        {"branch", std::string(branchName(static_cast<BranchKind>(j)))},
                        {"pin", pinName(b.pins[l][j])}});
  return {{"k", b.k}, {"layer_min", b.layer_min}, {"layer_max", b.layer_max}, {"pins", pins}};
}

Budget budgetFromJson(const json& j) {
  Budget b;
  b.k = j.at("k").get<int>();
  b.layer_min = j.at("layer_min").get<std::vector<int>>();
  b.layer_max = j.at("layer_max").get<std::vector<int>>();
  std::array<Pin, kNumBranchKinds> none{};
  none.fill(Pin::Auto);
  b.pins.assign(b.layer_min.size(), none);
  for (const auto& p : j.at("pins")) {
    const auto layer = p.at("layer").get<size_t>();
    const auto kind = parseBranchKind(p.at("branch").get<std::string>());
    const auto pin = parsePin(p.at("pin").get<std::string>());
    if (layer >= b.pins.size() || !kind || !pin) throw Error("bad pin in budget");
    b.pins[layer][static_cast<int>(*kind)] = *pin;
  }
  return b;
}

json blockJson(const BlockSpec& s) {
  return {{"in", s.in_channels}, {"out", s.out_channels}, {"kernel", s.kernel_size},
          {"stride", s.stride}, {"groups", s.groups},
          {"branches", maskToBits({s.branches})}, {"identity", s.identity}};
}

BlockSpec blockFromJson(const json& j) {
  BlockSpec s;
  s.in_channels = j.at("in");
  s.out_channels = j.at("out");
  s.kernel_size = j.at("kernel");
  s.stride = j.at("stride");
  s.groups = j.at("groups");
  s.branches = maskFromBits(j.at("branches").get<std::vector<int>>()).at(0);
  s.identity = j.at("identity");
  return s;
}

template <typename T>
json optionalJson(const std::optional<T>& v) {
  return v ? json(*v) : json(nullptr);
}

}  // namespace

std::string budgetToJson(const Budget& budget) { return budgetJson(budget).dump(); }

Budget budgetFromJson(const std::string& text) {
  try {
    return budgetFromJson(json::parse(text));
  } catch (const json::exception& e) {
    throw Error(std::string("malformed budget: ") + e.what());
  }
}

namespace {

std::optional<double> optionalDouble(const json& j, const char* key) {
  if (!j.contains(key) || j[key].is_null()) return std::nullopt;
  return j[key].get<double>();
}

double wallClock() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct ToJson {
  json operator()(const RunInfo& e) const {
    json layers = json::array();
    for (const auto& l : e.layers)
      layers.push_back({{"index", l.index}, {"block", blockJson(l.block)},
                        {"has_identity", l.has_identity}, {"label", l.label}});
    json config = json::parse(e.config_json.empty() ? "{}" : e.config_json);
    return {{"type", "run_started"}, {"run_dir", e.run_dir}, {"mode", e.mode},
            {"backbone", e.backbone}, {"config", config}, {"layers", layers},
            {"dataset", {{"name", e.dataset.name}, {"dir", e.dataset.dir},
                         {"train_count", e.dataset.train_count},
                         {"test_count", e.dataset.test_count},
                         {"channels", e.dataset.channels}, {"height", e.dataset.height},
                         {"width", e.dataset.width}, {"num_classes", e.dataset.num_classes}}},
            {"epochs", e.epochs}, {"warmup_epochs", e.warmup_epochs},
            {"search_epochs", e.search_epochs}, {"steps_per_epoch", e.steps_per_epoch},
            {"total_steps", e.total_steps}, {"start_step", e.start_step},
            {"resumed", e.resumed}, {"budget", budgetJson(e.budget)}, {"alpha", e.alpha}};
  }
  json operator()(const StepSnapshot& e) const {
    return {{"type", "step"}, {"step", e.step}, {"epoch", e.epoch},
            {"phase", phaseName(e.phase)}, {"loss", e.loss},
            {"batch_accuracy", e.batch_accuracy}, {"lr", e.lr}, {"arch_lr", e.arch_lr},
            {"alpha", e.alpha}, {"sigma", e.sigma}, {"mask", maskToBits(e.mask)},
            {"topk_mask", maskToBits(e.topk_mask)}, {"noise_scale", e.noise_scale},
            {"mask_agreement", e.mask_agreement}, {"alpha_margin", optionalJson(e.alpha_margin)},
            {"budget_k", e.budget_k}, {"step_ms", e.step_ms},
            {"images_per_second", e.images_per_second}, {"wall_time", e.wall_time}};
  }
  json operator()(const EpochSummary& e) const {
    return {{"type", "epoch"}, {"epoch", e.epoch}, {"phase", phaseName(e.phase)},
            {"step", e.step}, {"train_loss", e.train_loss},
            {"train_accuracy", e.train_accuracy}, {"val_accuracy", optionalJson(e.val_accuracy)},
            {"test_accuracy", optionalJson(e.test_accuracy)}, {"seconds", e.seconds}};
  }
  json operator()(const PhaseChange& e) const {
    return {{"type", "phase"}, {"from", phaseName(e.from)}, {"to", phaseName(e.to)},
            {"step", e.step}, {"epoch", e.epoch}, {"mask", maskToBits(e.mask)}};
  }
  json operator()(const CommandAck& e) const {
    return {{"type", "command"}, {"id", e.id}, {"command", e.command},
            {"accepted", e.accepted}, {"reason", e.reason}, {"step", e.step},
            {"budget", budgetJson(e.budget)}};
  }
  json operator()(const CheckpointSaved& e) const {
    return {{"type", "checkpoint"}, {"path", e.path}, {"step", e.step}, {"epoch", e.epoch}};
  }
  json operator()(const RunFinished& e) const {
    return {{"type", "finished"}, {"status", e.status}, {"message", e.message},
            {"step", e.step}, {"test_accuracy", optionalJson(e.test_accuracy)},
            {"mask", maskToBits(e.mask)}};
  }
};

Phase phaseField(const json& j, const char* key) {
  const auto p = parsePhase(j.at(key).get<std::string>());
  if (!p) throw Error(std::string("unknown phase in '") + key + "'");
  return *p;
}

}  // namespace

std::string eventToJson(const Event& event) {
  json j = std::visit(ToJson{}, event);
  j["time"] = wallClock();
  return j.dump();
}

Event eventFromJson(const std::string& line) {
  try {
    const json j = json::parse(line);
    const std::string type = j.at("type").get<std::string>();
    if (type == "run_started") {
      RunInfo e;
      e.run_dir = j.at("run_dir");
      e.mode = j.at("mode");
      e.backbone = j.at("backbone");
      e.config_json = j.at("config").dump(2);
      for (const auto& l : j.at("layers")) {
        LayerInfo info;
        info.index = l.at("index");
        info.block = blockFromJson(l.at("block"));
        info.has_identity = l.at("has_identity");
        info.label = l.at("label");
        e.layers.push_back(info);
      }
      const auto& d = j.at("dataset");
      e.dataset.name = d.at("name");
      e.dataset.dir = d.at("dir");
      e.dataset.train_count = d.at("train_count");
      e.dataset.test_count = d.at("test_count");
      e.dataset.channels = d.at("channels");
      e.dataset.height = d.at("height");
      e.dataset.width = d.at("width");
      e.dataset.num_classes = d.at("num_classes");
      e.epochs = j.at("epochs");
      e.warmup_epochs = j.at("warmup_epochs");
      e.search_epochs = j.at("search_epochs");
      e.steps_per_epoch = j.at("steps_per_epoch");
      e.total_steps = j.at("total_steps");
      e.start_step = j.at("start_step");
      e.resumed = j.at("resumed");
      e.budget = budgetFromJson(j.at("budget"));
      e.alpha = j.at("alpha").get<std::vector<float>>();
      return e;
    }
    if (type == "step") {
      StepSnapshot e;
      e.step = j.at("step");
      e.epoch = j.at("epoch");
      e.phase = phaseField(j, "phase");
      e.loss = j.at("loss");
      e.batch_accuracy = j.at("batch_accuracy");
      e.lr = j.at("lr");
      e.arch_lr = j.at("arch_lr");
      e.alpha = j.at("alpha").get<std::vector<float>>();
      e.sigma = j.at("sigma").get<std::vector<float>>();
      e.mask = maskFromBits(j.at("mask").get<std::vector<int>>());
      // Added with the annealed search; logs from before have none of them.
      if (j.contains("topk_mask")) e.topk_mask = maskFromBits(j.at("topk_mask").get<std::vector<int>>());
      e.noise_scale = j.value("noise_scale", 0.0);
      e.mask_agreement = j.value("mask_agreement", 1.0);
      e.alpha_margin = optionalDouble(j, "alpha_margin");
      e.budget_k = j.at("budget_k");
      e.step_ms = j.at("step_ms");
      e.images_per_second = j.at("images_per_second");
      e.wall_time = j.value("wall_time", 0.0);
      return e;
    }
    if (type == "epoch") {
      EpochSummary e;
      e.epoch = j.at("epoch");
      e.phase = phaseField(j, "phase");
      e.step = j.at("step");
      e.train_loss = j.at("train_loss");
      e.train_accuracy = j.at("train_accuracy");
      e.val_accuracy = optionalDouble(j, "val_accuracy");
      e.test_accuracy = optionalDouble(j, "test_accuracy");
      e.seconds = j.at("seconds");
      return e;
    }
    if (type == "phase") {
      PhaseChange e;
      e.from = phaseField(j, "from");
      e.to = phaseField(j, "to");
      e.step = j.at("step");
      e.epoch = j.at("epoch");
      e.mask = maskFromBits(j.at("mask").get<std::vector<int>>());
      return e;
    }
    if (type == "command") {
      CommandAck e;
      e.id = j.at("id");
      e.command = j.at("command");
      e.accepted = j.at("accepted");
      e.reason = j.at("reason");
      e.step = j.at("step");
      e.budget = budgetFromJson(j.at("budget"));
      return e;
    }
    if (type == "checkpoint") {
      CheckpointSaved e;
      e.path = j.at("path");
      e.step = j.at("step");
      e.epoch = j.at("epoch");
      return e;
    }
    if (type == "finished") {
      RunFinished e;
      e.status = j.at("status");
      e.message = j.at("message");
      e.step = j.at("step");
      e.test_accuracy = optionalDouble(j, "test_accuracy");
      e.mask = maskFromBits(j.at("mask").get<std::vector<int>>());
      return e;
    }
    throw Error("unknown event type '" + type + "'");
  } catch (const json::exception& e) {
    throw Error(std::string("malformed event line: ") + e.what());
  }
}

void dispatchEvent(const Event& event, Observer& o) {
  std::visit(
      [&o](const auto& e) {
        using T = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<T, RunInfo>) o.onRunStarted(e);
        else if constexpr (std::is_same_v<T, StepSnapshot>) o.onStep(e);
        else if constexpr (std::is_same_v<T, EpochSummary>) o.onEpoch(e);
        else if constexpr (std::is_same_v<T, PhaseChange>) o.onPhaseChange(e);
        else if constexpr (std::is_same_v<T, CommandAck>) o.onCommand(e);
        else if constexpr (std::is_same_v<T, CheckpointSaved>) o.onCheckpoint(e);
        else if constexpr (std::is_same_v<T, RunFinished>) o.onFinished(e);
      },
      event);
}

}  // namespace repnas
