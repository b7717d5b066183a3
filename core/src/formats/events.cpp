#include "repnas/events.h"

#include <fstream>
#include <nlohmann/json.hpp>

#include <chrono>
#include <limits>
#include <sstream>
#include <tuple>

#include "formats/input_file.h"
#include "formats/json_fields.h"
#include "repnas/error.h"
#include "repnas/strategy_info.h"

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
  const auto* strategy = findStrategy(mode);
  if (!strategy || !strategy->capabilities.accepts_budget_edits) return "mode " + mode + " trains a fixed mask";
  if (architecture_fixed)
    return std::string("the architecture is fixed (phase fixed): budget changes apply only before the fix");
  return std::nullopt;
}

std::optional<std::string> applyBudgetEdit(const Command& c, int layers, Budget& budget) {
  Budget next = budget;
  switch (c.type) {
    case Command::Type::SetBudget: next.k = c.k; break;
    case Command::Type::SetCostLimits:
      for (const auto& [name, value, out] :
           {std::tuple<const char*, double, double*>{"ms per step", c.max_ms, &next.max_ms},
            {"training MB", c.max_mb, &next.max_mb}}) {
        if (value == -1) continue;  // unchanged
        if (!(value >= 0) || !std::isfinite(value) || value > 1e12)
          return std::string("the ") + name + " limit must be a number >= 0 (0: none)";
        *out = value;
      }
      break;
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
    case Type::SetBudget: return k == kAnyCount ? "set budget k=any" : "set budget k=" + std::to_string(k);
    case Type::SetCostLimits: {
      auto limit = [](double v) {
        if (v < 0) return std::string("unchanged");
        if (v == 0) return std::string("none");
        std::ostringstream o;
        o << v;
        return o.str();
      };
      return "set cost limits ms<=" + limit(max_ms) + " MB<=" + limit(max_mb);
    }
    case Type::SetLayerLimits:
      return "set layer " + std::to_string(layer) + " limits min=" +
             (min < 0 ? std::string("unchanged") : std::to_string(min)) +
             " max=" + (max < 0 ? std::string("unchanged") : std::to_string(max));
    case Type::SetPin:
      return "pin layer " + std::to_string(layer) + " " + std::string(branchName(branch)) + " " +
             pinName(pin);
    case Type::Undo: return "undo";
    case Type::Redo: return "redo";
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

json journalJson(const JournalView& v) { return {{"entries", v.entries}, {"index", v.index}}; }

/// The journal of an event (absent in logs before schema 3: not known).
JournalView journalField(const json& j) {
  JournalView v;
  if (!j.contains("journal")) return v;
  const json& o = field(j, "journal");
  const json& entries = field(o, "entries");
  if (!entries.is_array() || entries.size() > 1000) badField("journal", "expected a list of edits");
  for (const auto& e : entries) {
    if (!e.is_string()) badField("journal", "expected texts");
    v.entries.push_back(clippedText(e.get<std::string>(), 400));
  }
  v.index = integerField<int>(o, "index", 0, static_cast<int>(v.entries.size()));
  v.known = true;
  return v;
}

json budgetJson(const Budget& b) {
  json pins = json::array();
  for (size_t l = 0; l < b.pins.size(); ++l)
    for (int j = 0; j < kNumBranchKinds; ++j)
      if (b.pins[l][j] != Pin::Auto)
        pins.push_back({{"layer", l},
                        {"branch", std::string(branchName(static_cast<BranchKind>(j)))},
                        {"pin", pinName(b.pins[l][j])}});
  json out{{"k", b.k}, {"layer_min", b.layer_min}, {"layer_max", b.layer_max}, {"pins", pins}};
  if (b.max_ms > 0) out["max_ms"] = b.max_ms;  // absent: no limit (and in logs before issue 17)
  if (b.max_mb > 0) out["max_mb"] = b.max_mb;
  return out;
}

// ------------------------------------------------------------ checked reading
// Every field of an event line is read through these: the right JSON type, integers in the
// range of their type (never a float cast that overflows), lists no longer than a network
// the engine builds. A violation is an Error naming the field.


std::vector<float> floatsField(const json& j, const std::string& key) {
  std::vector<float> out;
  for (const auto& v : listField(j, key, kMaxLayerValues)) {
    if (!v.is_number()) badField(key, "expected numbers");
    out.push_back(v.get<float>());
  }
  return out;
}


std::optional<double> optionalNumberField(const json& j, const char* key) {
  if (!j.contains(key) || j[key].is_null()) return std::nullopt;
  return numberField(j, key);
}

Budget budgetFromJson(const json& j) {
  Budget b;
  const int per_layer = kNumBranchKinds;
  for (const auto& [key, out] : {std::pair<const char*, std::vector<int>*>{"layer_min", &b.layer_min},
                                 {"layer_max", &b.layer_max}}) {
    for (const auto& v : listField(j, key, kMaxNetworkLayers)) {
      if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() > per_layer)
        badField(key, "values must be integers in 0..6");
      out->push_back(v.get<int>());
    }
  }
  if (b.layer_min.size() != b.layer_max.size())
    badField("layer_max", std::to_string(b.layer_max.size()) + " layers but layer_min has " +
                              std::to_string(b.layer_min.size()));
  b.k = integerField<int>(j, "k", kAnyCount, per_layer * static_cast<int>(b.layer_min.size()));
  for (const auto& [key, out] : {std::pair<const char*, double*>{"max_ms", &b.max_ms}, {"max_mb", &b.max_mb}}) {
    if (!j.contains(key)) continue;
    *out = numberField(j, key);
    if (!(*out >= 0) || !std::isfinite(*out) || *out > 1e12) badField(key, "must be a number >= 0");
  }
  if (!b.countLimited() && !b.costLimited()) badField("k", "a free count (-1) needs a cost limit");
  std::array<Pin, kNumBranchKinds> none{};
  none.fill(Pin::Auto);
  b.pins.assign(b.layer_min.size(), none);
  for (const auto& p : listField(j, "pins", kMaxLayerValues)) {
    const auto layer = integerField<int>(p, "layer", 0, static_cast<int>(b.pins.size()) - 1);
    const auto kind = parseBranchKind(stringField(p, "branch"));
    const auto pin = parsePin(stringField(p, "pin"));
    if (!kind || !pin) badField("pins", "unknown branch or pin");
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
  s.in_channels = integerField<int>(j, "in");
  s.out_channels = integerField<int>(j, "out");
  s.kernel_size = integerField<int>(j, "kernel");
  s.stride = integerField<int>(j, "stride");
  s.groups = integerField<int>(j, "groups");
  const auto branches = maskField(j, "branches");
  if (branches.size() != 1) badField("branches", "expected the 6 entries of one layer");
  s.branches = branches[0];
  s.identity = boolField(j, "identity");
  s.validate();
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
  } catch (const Error& e) {
    throw Error(std::string("malformed budget: ") + e.what());
  }
}

namespace {

double wallClock() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

json metricsJson(const std::vector<std::pair<std::string, double>>& metrics) {
  json m = json::object();
  for (const auto& [name, value] : metrics) m[name] = value;
  return m;
}

struct ToJson {
  json operator()(const RunInfo& e) const {
    json layers = json::array();
    for (const auto& l : e.layers)
      layers.push_back({{"index", l.index}, {"block", blockJson(l.block)},
                        {"has_identity", l.has_identity}, {"label", l.label}});
    json config = json::parse(e.config_json.empty() ? "{}" : e.config_json);
    json plan = json::array();
    for (const auto& p : e.phase_plan) plan.push_back({{"phase", phaseName(p.phase)}, {"epochs", p.epochs}});
    return {{"type", "run_started"}, {"schema", kEventSchemaVersion}, {"run_dir", e.run_dir},
            {"mode", e.mode}, {"strategy", e.strategy}, {"phase_plan", plan},
            {"backbone", e.backbone}, {"config", config}, {"layers", layers},
            {"dataset", {{"name", e.dataset.name}, {"dir", e.dataset.dir},
                         {"train_count", e.dataset.train_count},
                         {"test_count", e.dataset.test_count},
                         {"channels", e.dataset.channels}, {"height", e.dataset.height},
                         {"width", e.dataset.width}, {"num_classes", e.dataset.num_classes}}},
            {"epochs", e.epochs}, {"warmup_epochs", e.warmup_epochs},
            {"search_epochs", e.search_epochs}, {"steps_per_epoch", e.steps_per_epoch},
            {"total_steps", e.total_steps}, {"start_step", e.start_step},
            {"resumed", e.resumed}, {"resume_changes", e.resume_changes},
            {"budget", budgetJson(e.budget)}, {"alpha", e.alpha}, {"journal", journalJson(e.journal)}};
  }
  json operator()(const StepSnapshot& e) const {
    return {{"type", "step"}, {"step", e.step}, {"epoch", e.epoch},
            {"phase", phaseName(e.phase)}, {"loss", e.loss},
            {"batch_accuracy", e.batch_accuracy}, {"lr", e.lr}, {"arch_lr", e.arch_lr},
            {"alpha", e.alpha}, {"sigma", e.sigma}, {"mask", maskToBits(e.mask)},
            {"topk_mask", maskToBits(e.topk_mask)}, {"noise_scale", e.noise_scale},
            {"mask_agreement", e.mask_agreement}, {"alpha_margin", optionalJson(e.alpha_margin)},
            {"metrics", metricsJson(e.metrics)}, {"budget_k", e.budget_k}, {"step_ms", e.step_ms},
            {"images_per_second", e.images_per_second}, {"wall_time", e.wall_time}};
  }
  json operator()(const EpochSummary& e) const {
    return {{"type", "epoch"}, {"epoch", e.epoch}, {"phase", phaseName(e.phase)},
            {"step", e.step}, {"train_loss", e.train_loss},
            {"train_accuracy", e.train_accuracy}, {"val_accuracy", optionalJson(e.val_accuracy)},
            {"test_accuracy", optionalJson(e.test_accuracy)}, {"seconds", e.seconds}};
  }
  json operator()(const PhaseChange& e) const {
    json j = {{"type", "phase"}, {"from", phaseName(e.from)}, {"to", phaseName(e.to)},
              {"step", e.step}, {"epoch", e.epoch}, {"mask", maskToBits(e.mask)}};
    if (e.search_seconds) j["search_seconds"] = *e.search_seconds;
    if (e.time_limit) j["time_limit"] = true;
    return j;
  }
  json operator()(const CommandAck& e) const {
    return {{"type", "command"}, {"id", e.id}, {"command", e.command},
            {"accepted", e.accepted}, {"reason", e.reason}, {"step", e.step},
            {"budget", budgetJson(e.budget)}, {"merge", e.merge}, {"journal", journalJson(e.journal)}};
  }
  json operator()(const CheckpointSaved& e) const {
    return {{"type", "checkpoint"}, {"path", e.path}, {"step", e.step}, {"epoch", e.epoch}};
  }
  json operator()(const Trial& e) const {
    return {{"type", "trial"}, {"index", e.index}, {"step", e.step}, {"update", e.update},
            {"mask", maskToBits(e.mask)}, {"parent", maskToBits(e.parent)},
            {"val_accuracy", e.val_accuracy}, {"resources", metricsJson(e.resources)},
            {"reward", e.reward}, {"feasible", e.feasible}, {"cached", e.cached}};
  }
  json operator()(const RunFinished& e) const {
    return {{"type", "finished"}, {"status", e.status}, {"message", e.message},
            {"step", e.step}, {"test_accuracy", optionalJson(e.test_accuracy)},
            {"mask", maskToBits(e.mask)}};
  }
};

/// Numbers by name (a step's metrics, a trial's resources): at most 32, names of at most 64
/// characters.
std::vector<std::pair<std::string, double>> metricsField(const json& j, const char* key) {
  const json& m = field(j, key);
  if (!m.is_object() || m.size() > 32) badField(key, "expected an object of at most 32 numbers");
  std::vector<std::pair<std::string, double>> out;
  for (auto it = m.begin(); it != m.end(); ++it) {
    if (it.key().size() > 64) badField(key, "a name longer than 64 characters");
    out.emplace_back(it.key(), numberField(m, it.key()));
  }
  return out;
}

Phase phaseField(const json& j, const char* key) {
  const auto p = parsePhase(stringField(j, key));
  if (!p) badField(key, "unknown phase");
  return *p;
}

}  // namespace

std::string eventToJson(const Event& event) {
  json j = std::visit(ToJson{}, event);
  j["time"] = wallClock();
  return j.dump();
}

Event eventFromJson(const std::string& line) {
  if (line.size() > kMaxEventLineBytes)
    throw Error("line of " + std::to_string(line.size()) + " bytes, longer than the " +
                std::to_string(kMaxEventLineBytes) + " an event has");
  try {
    const json j = json::parse(line);
    const std::string type = stringField(j, "type");
    Event event = [&]() -> Event {
      if (type == "run_started") {
        RunInfo e;
        e.run_dir = stringField(j, "run_dir");
        if (j.contains("schema")) {
          const int schema = integerField<int>(j, "schema", 1);
          if (schema > kEventSchemaVersion)
            badField("schema", "version " + std::to_string(schema) + " is newer than this program's " +
                                   std::to_string(kEventSchemaVersion));
        }
        e.mode = stringField(j, "mode");
        if (j.contains("strategy")) e.strategy = stringField(j, "strategy");  // since schema 2
        if (j.contains("phase_plan"))
          for (const auto& p : listField(j, "phase_plan", 8))
            e.phase_plan.push_back({phaseField(p, "phase"), countField(p, "epochs")});
        e.backbone = stringField(j, "backbone");
        const json& config = field(j, "config");
        if (!config.is_object()) badField("config", "expected an object");
        e.config_json = config.dump(2);
        const auto& layers = listField(j, "layers", kMaxNetworkLayers);
        if (layers.empty()) badField("layers", "a run has at least one layer");
        for (const auto& l : layers) {
          LayerInfo info;
          info.index = integerField<int>(l, "index", static_cast<int>(e.layers.size()),
                                         static_cast<int>(e.layers.size()));
          info.block = blockFromJson(field(l, "block"));
          info.has_identity = boolField(l, "has_identity");
          info.label = stringField(l, "label");
          e.layers.push_back(info);
        }
        const auto& d = field(j, "dataset");
        e.dataset.name = stringField(d, "name");
        e.dataset.dir = stringField(d, "dir");
        e.dataset.train_count = integerField<int64_t>(d, "train_count", 0);
        e.dataset.test_count = integerField<int64_t>(d, "test_count", 0);
        e.dataset.channels = integerField<int>(d, "channels", 1, kMaxChannels);
        e.dataset.height = integerField<int>(d, "height", 1, kMaxInputSide);
        e.dataset.width = integerField<int>(d, "width", 1, kMaxInputSide);
        e.dataset.num_classes = integerField<int>(d, "num_classes", 1, 256);
        e.epochs = countField(j, "epochs");
        e.warmup_epochs = countField(j, "warmup_epochs");
        e.search_epochs = countField(j, "search_epochs");
        e.steps_per_epoch = integerField<int64_t>(j, "steps_per_epoch", 1);
        e.total_steps = integerField<int64_t>(j, "total_steps", 0);
        e.start_step = integerField<int64_t>(j, "start_step", 0, e.total_steps);
        e.resumed = boolField(j, "resumed");
        if (j.contains("resume_changes"))  // since format 2 of the run archives
          for (const auto& c : listField(j, "resume_changes", 16)) {
            if (!c.is_string()) badField("resume_changes", "expected strings");
            e.resume_changes.push_back(c.get<std::string>());
          }
        e.budget = budgetFromJson(field(j, "budget"));
        e.alpha = floatsField(j, "alpha");
        e.journal = journalField(j);  // since schema 3
        if (e.budget.layer_min.size() != e.layers.size())
          badField("budget", "describes " + std::to_string(e.budget.layer_min.size()) +
                                 " layers but the run has " + std::to_string(e.layers.size()));
        if (!e.alpha.empty() && e.alpha.size() != e.layers.size() * kNumBranchKinds)
          badField("alpha", std::to_string(e.alpha.size()) + " values for " +
                                std::to_string(e.layers.size()) + " layers");
        return e;
      }
      if (type == "step") {
        StepSnapshot e;
        e.step = integerField<int64_t>(j, "step", 0);
        e.epoch = countField(j, "epoch");
        e.phase = phaseField(j, "phase");
        e.loss = numberField(j, "loss");
        e.batch_accuracy = numberField(j, "batch_accuracy");
        e.lr = numberField(j, "lr");
        e.arch_lr = numberField(j, "arch_lr");
        e.alpha = floatsField(j, "alpha");
        e.sigma = floatsField(j, "sigma");
        e.mask = maskField(j, "mask");
        // Added with the annealed search; logs from before have none of them.
        if (j.contains("topk_mask")) e.topk_mask = maskField(j, "topk_mask");
        if (j.contains("noise_scale")) e.noise_scale = numberField(j, "noise_scale");
        if (j.contains("mask_agreement")) e.mask_agreement = numberField(j, "mask_agreement");
        e.alpha_margin = optionalNumberField(j, "alpha_margin");
        e.budget_k = countField(j, "budget_k");
        e.step_ms = numberField(j, "step_ms");
        e.images_per_second = numberField(j, "images_per_second");
        if (j.contains("wall_time")) e.wall_time = numberField(j, "wall_time");
        if (j.contains("metrics")) e.metrics = metricsField(j, "metrics");  // since schema 2
        const size_t values = e.mask.size() * kNumBranchKinds;
        if (e.alpha.size() != values || e.sigma.size() != values)
          badField("alpha", "alpha, sigma and mask describe different numbers of layers");
        if (!e.topk_mask.empty() && e.topk_mask.size() != e.mask.size())
          badField("topk_mask", "describes another number of layers than mask");
        return e;
      }
      if (type == "epoch") {
        EpochSummary e;
        e.epoch = countField(j, "epoch");
        e.phase = phaseField(j, "phase");
        e.step = integerField<int64_t>(j, "step", 0);
        e.train_loss = numberField(j, "train_loss");
        e.train_accuracy = numberField(j, "train_accuracy");
        e.val_accuracy = optionalNumberField(j, "val_accuracy");
        e.test_accuracy = optionalNumberField(j, "test_accuracy");
        e.seconds = numberField(j, "seconds");
        return e;
      }
      if (type == "phase") {
        PhaseChange e;
        e.from = phaseField(j, "from");
        e.to = phaseField(j, "to");
        e.step = integerField<int64_t>(j, "step", 0);
        e.epoch = countField(j, "epoch");
        e.mask = maskField(j, "mask");
        e.search_seconds = optionalNumberField(j, "search_seconds");
        if (j.contains("time_limit")) e.time_limit = boolField(j, "time_limit");
        return e;
      }
      if (type == "command") {
        CommandAck e;
        e.id = integerField<int64_t>(j, "id");
        e.command = stringField(j, "command");
        e.accepted = boolField(j, "accepted");
        e.reason = stringField(j, "reason");
        e.step = integerField<int64_t>(j, "step", 0);
        e.budget = budgetFromJson(field(j, "budget"));
        if (j.contains("merge")) e.merge = integerField<int64_t>(j, "merge", 0);  // since schema 3
        e.journal = journalField(j);
        return e;
      }
      if (type == "checkpoint") {
        CheckpointSaved e;
        e.path = stringField(j, "path");
        e.step = integerField<int64_t>(j, "step", 0);
        e.epoch = countField(j, "epoch");
        return e;
      }
      if (type == "trial") {
        Trial e;
        e.index = integerField<int64_t>(j, "index", 0);
        e.step = integerField<int64_t>(j, "step", 0);
        e.update = countField(j, "update");
        e.mask = maskField(j, "mask");
        e.parent = maskField(j, "parent");
        if (e.mask.empty() || (!e.parent.empty() && e.parent.size() != e.mask.size()))
          badField("parent", "describes another number of layers than mask");
        e.val_accuracy = numberField(j, "val_accuracy");
        e.resources = metricsField(j, "resources");
        e.reward = numberField(j, "reward");
        e.feasible = boolField(j, "feasible");
        e.cached = boolField(j, "cached");
        return e;
      }
      if (type == "finished") {
        RunFinished e;
        e.status = stringField(j, "status");
        e.message = stringField(j, "message");
        e.step = integerField<int64_t>(j, "step", 0);
        e.test_accuracy = optionalNumberField(j, "test_accuracy");
        e.mask = maskField(j, "mask");
        return e;
      }
      throw Error("unknown event type '" + clippedText(type, 40) + "'");
    }();
    return event;
  } catch (const json::exception& e) {
    throw Error(std::string("malformed event line: ") + e.what());
  }
}

std::optional<std::string> eventMismatch(const Event& event, const RunInfo& run) {
  const size_t layers = run.layers.size();
  const auto masks = [&](const std::vector<BranchMask>& m, const char* what) -> std::optional<std::string> {
    if (!m.empty() && m.size() != layers)
      return std::string(what) + " describes " + std::to_string(m.size()) + " layers but the run has " +
             std::to_string(layers);
    return std::nullopt;
  };
  if (const auto* s = std::get_if<StepSnapshot>(&event)) return masks(s->mask, "the step's mask");
  if (const auto* p = std::get_if<PhaseChange>(&event)) return masks(p->mask, "the phase change's mask");
  if (const auto* f = std::get_if<RunFinished>(&event)) return masks(f->mask, "the final mask");
  if (const auto* t = std::get_if<Trial>(&event)) return masks(t->mask, "the trial's mask");
  if (const auto* c = std::get_if<CommandAck>(&event)) {
    if (c->budget.layer_min.size() != layers)
      return "the command's budget describes " + std::to_string(c->budget.layer_min.size()) +
             " layers but the run has " + std::to_string(layers);
  }
  return std::nullopt;
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
        else if constexpr (std::is_same_v<T, Trial>) o.onTrial(e);
      },
      event);
}

void forEachLoggedEvent(const std::string& path, const std::function<void(const Event&)>& f) {
  // Not a FIFO or a device (a read that never ends); lines longer than kMaxEventLineBytes are
  // skipped without being held, so a hostile log cannot take unbounded memory.
  if (!notARegularFile(path, /*refuse_symlink=*/false).empty()) return;
  std::ifstream in(path, std::ios::binary);
  std::string line;
  bool too_long = false;
  auto finish = [&] {
    if (!too_long && !line.empty()) {
      try {
        const Event event = eventFromJson(line);
        f(event);
      } catch (const std::exception&) {
        // a torn or malformed line: skipped
      }
    }
    line.clear();
    too_long = false;
  };
  char buf[1 << 16];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    const std::streamsize n = in.gcount();
    for (std::streamsize i = 0; i < n; ++i) {
      if (buf[i] == '\n') {
        finish();
      } else if (!too_long) {
        line.push_back(buf[i]);
        if (line.size() > kMaxEventLineBytes) {
          too_long = true;
          line.clear();
          line.shrink_to_fit();
        }
      }
    }
  }
  finish();
}

}  // namespace repnas
