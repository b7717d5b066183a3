#include "cli_help.h"

#include <nlohmann/json.hpp>

#include <sstream>
#include <vector>

#include "repnas/config.h"
#include "repnas/runtime.h"

namespace repnas::cli {
namespace {

struct Option {
  const char* name;  // e.g. "--out DIR"
  const char* text;
};

struct CommandHelp {
  const char* name;
  const char* synopsis;  // after "repnas "
  const char* summary;   // one line
  const char* description;
  std::vector<Option> options;
};

const std::vector<CommandHelp>& commands() {
  static const std::vector<CommandHelp> table = {
      {"search", "search --out DIR [--config FILE] [--set KEY=VALUE ...] [--resume [--override]] [--quiet]",
       "train on real data: the RepNAS search, or a fixed-mask baseline",
       "Trains a network in one of its modes (config key mode): search (RepNAS: a warm-up "
       "that trains uniformly random k-subsets of the branches with α frozen, a search that "
       "trains the top-k of α + τ·noise with α learning alongside the weights and τ annealed, "
       "the fix of the best k with the conv kernels reset to their initial norm, then the fixed "
       "phase, as long as a baseline's training), plain, plain+identity, repvgg, dbb, or odbb "
       "(train a given mask from scratch, or mask=random for a random control). The default is "
       "the search on the tiny backbone on Fashion-MNIST from /usr/share/datasets/fashion-mnist "
       "(Debian package dataset-fashion-mnist). DIR receives config.json (the resolved "
       "configuration), events.jsonl (one JSON object per event: run start, every step, epoch "
       "ends, phase changes, commands, checkpoints, the end), checkpoint.pt (every epoch and on "
       "stop, written atomically), arch.json (the kept branches per layer and their final "
       "σ(α)) and weights.pt. A progress bar with phase, ETA and images/s goes to stderr. Ctrl+C "
       "stops after the current step and saves a checkpoint; a second Ctrl+C quits at once. A NaN "
       "or infinite loss stops the run with a message; the last checkpoint stays intact.",
       {{"--out DIR", "the run folder (required); must not hold a run already unless --resume"},
        {"--config FILE", "a JSON object with any of the configuration keys below"},
        {"--set KEY=VALUE", "set one key (repeatable, applied after --config); VALUE is JSON when "
                            "it parses as JSON, else a string"},
        {"--resume", "continue DIR from its checkpoint with its saved configuration (only --set "
                     "threads=N may change; an edited config.json is refused, naming the key); "
                     "with the same seed and threads the result equals an uninterrupted run"},
        {"--override", "with --resume: also accept --set lr=V, epochs=N or fixed_epochs=N (e.g. "
                       "a lower lr after a diverged run); the change is recorded in events.jsonl"},
        {"--quiet", "no progress bar; print only the final status"}}},
      {"retrain", "retrain RUN_DIR --out DIR [--set KEY=VALUE ...] [--quiet]",
       "train the ODBB a search found from scratch, with the fixed-mask recipe",
       "Reads the architecture of a finished (or fixed) search in RUN_DIR (arch.json, or the "
       "fixed mask of its checkpoint) and trains exactly that mask from new weights in a new "
       "run folder DIR: mode odbb, the same data, backbone, seed and batch as the search, the "
       "baselines' schedule (epochs), config.json recording the mask and where it came from. "
       "The result is a normal run folder: export, evaluate, monitor and resume work on it. "
       "This is the protocol's test of a search: the retrained mask beside random masks of the "
       "same budget (repnas search --set strategy=odbb --set mask=random --set seed=N).",
       {{"--out DIR", "the new run folder (required, must not hold a run)"},
        {"--set KEY=VALUE", "change a key of the retraining (e.g. seed=2, epochs=30)"},
        {"--quiet", "no progress bar; print only the final status"}}},
      {"export",
       "export RUN_DIR [--onnx FILE] [--torchscript FILE] [--spec FILE] [--force] "
       "[--verify-images N] [--data DIR] [--threads N]",
       "fold a finished run into one KxK conv per layer, verify it, write deployable files",
       "Folds every block of a completed run into one KxK convolution, verifies the folded "
       "network against the multi-branch one on real test images (max absolute and relative "
       "logit error, both accuracies) and writes the requested files, each written to a "
       "temporary file, renamed, then loaded again and checked. Refuses to write when the error "
       "exceeds 1e-5 * max(1, max |logit|).",
       {{"--onnx FILE", "ONNX (opset 13, dynamic batch; Conv, Relu, Add, GlobalAveragePool, "
                        "Flatten, Gemm), with the architecture in its metadata"},
        {"--torchscript FILE", "TorchScript module (torch.jit.load), normalisation included"},
        {"--spec FILE", "JSON description of the folded network, weights in FILE.safetensors"},
        {"--force", "write even when the verification fails"},
        {"--verify-images N", "test images to verify on (default: all; values below 1000 count as 1000)"},
        {"--data DIR", "data folder when the run's own is not available here"},
        {"--threads N", "LibTorch threads (default: all cores)"}}},
      {"evaluate", "evaluate FILE [--data DIR] [--dataset NAME] [--limit N] [--threads N]",
       "test accuracy of an exported file or of a run folder",
       "Reads an exported .onnx, .pt (TorchScript) or .json spec, or a run folder, and reports "
       "its accuracy on the test set.",
       {{"--data DIR", "folder of the data set (default: Fashion-MNIST's)"},
        {"--dataset NAME", "fashion-mnist, mnist, idx or cifar10 (default: idx with --data, "
                           "else fashion-mnist)"},
        {"--limit N", "only the first N test images"},
        {"--threads N", "LibTorch threads (default: all cores)"}}},
      {"costs",
       "costs [--backbone B] [--dataset NAME] [--batch N] [--threads N] [--repeats N] [--out FILE] "
       "[--remeasure] [--json]",
       "measure what each branch of each layer costs to train on this machine",
       "Measures every branch of every layer: its marginal cost in the engine's training step (the "
       "least mask with it minus without it, bounded below by its own forward and backward), "
       "interleaved over the branches, one warm-up round and N timed rounds (median and "
       "quartiles), and the heap its forward keeps for the backward; the step's base (stem, head, "
       "identity, loss, update) beside them. The table is "
       "cached per backbone, input, batch, threads, CPU model and LibTorch version in "
       "~/.cache/repnas-studio/costs/ (XDG_CACHE_HOME) and measured again when any of them "
       "changes. The cost-aware budgets of the search read it.",
       {{"--backbone B", "a backbone preset (default tiny)"},
        {"--dataset NAME", "the input shape: fashion-mnist or mnist (1x28x28), cifar10 (3x32x32)"},
        {"--batch N", "the training batch (default 128)"},
        {"--threads N", "LibTorch threads (default: all cores)"},
        {"--repeats N", "timed rounds (default 7)"},
        {"--out FILE", "also write the table (costs.json) to FILE"},
        {"--remeasure", "measure even when the cache holds a table for this key"},
        {"--json", "print the table as JSON"}}},
      {"hant",
       "hant RUN_DIR --out DIR (--latency-budget-ms X | --speedup S | --sweep S1,S2,...) [--batch N] "
       "[--throughput-batch N] [--distill-steps N] [--finetune-steps N] [--finetune-lr L1,L2,...] [--repeats N] [--fit-students N] [--fit-faster-share F] [--threads N] [--quiet]",
       "accelerate a finished run for this machine: HANT's alternatives, distilled and chosen under a latency budget",
       "Hardware-aware network transformation (Molchanov et al., 2021). The teacher is RUN_DIR's folded "
       "network (one KxK conv per layer). Every layer gets the alternatives its shapes allow: its dense "
       "KxK conv, depthwise KxK + pointwise 1x1, grouped KxK (2 and 4 groups), low-rank KxK (C -> C'/2 "
       "or C'/4 -> C'), 1xK then Kx1, 1x1, identity. Phase 1 trains all of them at once by layer-wise "
       "distillation (the teacher's input of the layer -> its conv's output, MSE) on training images; "
       "each is scored by the validation loss change when only its layer is swapped (5,000 images held "
       "out of the training split; the test set is not used to choose). The latency of every (layer, "
       "alternative) and of the teacher is measured here, interleaved (batch N and a throughput batch); "
       "those single-swap deltas do not add up, so the latency model is fitted (ridge least squares, "
       "the single swaps as its prior) to whole random students measured beside the teacher, and every "
       "student measured later joins the fit. Phase 2 solves the multiple-choice knapsack (CBC): the least total score under the budget. The "
       "chosen student is fine-tuned by distillation from the teacher and its latency measured. DIR "
       "receives hant.json (every candidate's latency and score, the choice, the accuracies) and "
       "the student, verified against its exported form and exported like `repnas export` does: "
       "student.onnx, student.pt (TorchScript), student.json + student.safetensors. --sweep solves one budget per speed-up from the same phase 1 (no fine-tuning) and "
       "compares every layer taking the same operation.",
       {{"--out DIR", "the output folder (required)"},
        {"--latency-budget-ms X", "the student's predicted latency at batch N must be <= X ms"},
        {"--speedup S", "the budget is the teacher's measured latency / S"},
        {"--sweep S1,S2,...", "the speed-up/accuracy curve over these speed-ups"},
        {"--batch N", "the batch the latency budget is in (default 1)"},
        {"--throughput-batch N", "measured beside it (default 64)"},
        {"--distill-steps N", "phase 1 steps (default 400)"},
        {"--finetune-steps N", "fine-tuning steps of the chosen student (default 400)"},
        {"--finetune-lr L1,L2,...", "its Adam learning rates: each from the distilled student, the best state on the validation split kept (default 1e-4,3e-4)"},
        {"--repeats N", "timed rounds of the latency measurement (default 9)"},
        {"--fit-students N", "random students measured to fit the latency model (default 150; 0: single swaps only)"},
        {"--fit-faster-share F", "the share of them drawn from each layer's faster half of operations (default 0)"},
        {"--threads N", "LibTorch threads (default 1: the latency is that of one core)"},
        {"--quiet", "no progress on stderr"}}},
      {"compare",
       "compare --out DIR [--strategies S1,S2,...[,hant]] [--hant-set KEY=VALUE ...] [--seeds 1,2,3] [--random N] [--baselines B1,B2,...] "
       "[--budget-wall S] [--set KEY=VALUE ...] [--jobs N] [--print-commands | --table] | compare --out DIR --trial TRIAL",
       "strategies side by side: searches, their masks retrained from scratch, random masks, baselines",
       "The protocol of STRATEGIES.md section 5 for several search strategies at once, on one backbone, "
       "one k and one seeded split: per seed, each strategy's search (its one-stage result), the mask it "
       "found retrained from scratch with the fixed-mask recipe (mode odbb, the baselines' epochs), N "
       "random masks of the same k (mode odbb, mask=random, seed + 1000 r) and the fixed baselines. "
       "Every trial is a normal run folder, DIR/protocol-seed<s>/<name> (search and retrained for "
       "RepNAS, <strategy> and <strategy>-retrained for the others, random<r>, the baselines by "
       "mode), run as its own process (`repnas compare --out DIR --trial TRIAL`, its output in "
       "DIR/logs), up to --jobs at a time, a retraining after its search. DIR/comparison.json keeps "
       "the request: the same command (or `repnas compare --out DIR` alone) resumes an interrupted "
       "comparison, reusing finished trials and resuming an interrupted one from its checkpoint. At "
       "the end, the table (also DIR/comparison-table.json and .csv): test accuracy mean +- std per "
       "group, wall seconds (the epochs' sum), the search's step time before its fix, CPU seconds and "
       "peak memory of the trial's process, branches, the found mask's measured training ms/step and "
       "MiB (when this machine has measured the backbone's cost table), k compliance, the masks' mean "
       "pairwise Hamming distance over seeds, and Kendall's tau between each search's own score (its "
       "validation accuracy, else its test accuracy) and its retrained accuracy over the seeds; then "
       "the verdicts of each retrained row against the random masks, the other strategies and the "
       "baselines, called only beyond twice their pooled standard deviation. A folder made by "
       "`repnas-bench protocol` reads as a comparison.",
       {{"--out DIR", "the comparison folder (required)"},
        {"--strategies S1,...", "search strategies (default search,gdas,rena; repnas is search); hant: also each "
                                "seed's plain baseline transformed by HANT (`repnas hant`, its own row: the student's test "
                                "accuracy, its latency measured beside its teacher's, the verdict against plain)"},
        {"--hant-set KEY=VALUE", "HANT's options: speedup (default 1.5), sweep (1.25/1.5/2/3), distill_steps, "
                                 "finetune_steps (400 each), fit_students (150), repeats (9), batch (128); run HANT "
                                 "with --jobs 1 or on a quiet machine: it measures latency"},
        {"--seeds 1,2,3", "the protocol seeds (default 1,2,3)"},
        {"--random N", "random masks of the same k per seed (default 3)"},
        {"--baselines B1,...", "fixed baselines (default plain,repvgg,dbb; empty: none)"},
        {"--budget-wall S", "equal search wall time: every search fixes its architecture once its steps before the fix "
                            "(warm-up and search) have taken S seconds (--set search_seconds=S; give search_epochs "
                            "enough that the time ends each search, the rest of its epochs train the fixed mask)"},
        {"--set KEY=VALUE", "a configuration key for every trial (repeatable; not strategy, seed or mask)"},
        {"--jobs N", "trials at once (default 1); give each --set threads=T so that N x T fits the cores"},
        {"--print-commands", "print the trials' commands in two stages for an external launcher "
                             "(Slurm, GNU parallel) instead of running them, then the table's command"},
        {"--table", "only the table of the trials finished so far (nothing is started; unfinished ones are counted missing)"},
        {"--trial TRIAL", "run one trial (e.g. protocol-seed1/gdas) of DIR's saved comparison, here"},
        {"--quiet", "with --trial: no progress lines"}}},
      {"verify-fusion", "verify-fusion [--json] [--threads N] [--fault NAME]",
       "check that folding is exact for every standard block",
       "Builds every standard block (each branch kind alone, identity, all branches; K 3 and 5; "
       "stride 1 and 2; groups 1, 2 and depthwise; channel change; odd, even and non-square "
       "inputs) with random weights and random BatchNorm statistics, folds it into one KxK "
       "convolution and compares the two in eval mode, before the ReLU. One row per case; a "
       "case passes when max abs error <= 1e-5 * max(1, max |y|).",
       {{"--json", "print the results as a JSON array"},
        {"--threads N", "LibTorch threads (default: all cores)"},
        {"--fault NAME", "inject a known mistake into every case to show that the check catches "
                         "it: zero-padding, asymmetric-wrong-axis, perturbed-kernel, "
                         "train-mode-reference"}}},
      {"version", "version", "print the versions of RepNAS Studio and LibTorch",
       "Prints the version of repnas and of the LibTorch it runs on (also: repnas --version).", {}},
      {"help", "help [COMMAND]", "print this overview, or one command's help",
       "Without COMMAND the overview; with it the same text as repnas COMMAND --help.", {}},
      {"man", "man", "print the man page repnas(1) in roff",
       "Prints this program's manual page; the installed repnas.1 is made with it.", {}},
  };
  return table;
}

const CommandHelp* find(const std::string& name) {
  for (const auto& c : commands())
    if (name == c.name) return &c;
  return nullptr;
}

/// Wraps `text` at `width` columns, every line indented by `indent`.
std::string wrap(const std::string& text, size_t indent, size_t width = 92) {
  std::istringstream words(text);
  std::string word, line, out;
  const std::string pad(indent, ' ');
  while (words >> word) {
    if (!line.empty() && pad.size() + line.size() + 1 + word.size() > width) {
      out += pad + line + "\n";
      line.clear();
    }
    line += (line.empty() ? "" : " ") + word;
  }
  if (!line.empty()) out += pad + line + "\n";
  return out;
}

const char* kExitStatus =
    "0: success. 1: the run failed (data, disk, NaN loss, ...), a file could not be read or "
    "written, the export was refused, or a fusion case failed. 2: a usage or configuration "
    "error (the message names the argument or key). "
    "3: stopped by Ctrl+C or SIGTERM (a search stopped between steps saves a checkpoint first; an "
    "export writes nothing). 130: a second Ctrl+C.";

/// The default value of a configuration key, as JSON (strings unquoted).
std::string configDefault(const std::string& key) {
  static const auto defaults = nlohmann::json::parse(configToJson(RunConfig{}));
  if (!defaults.contains(key)) return "?";
  const auto& v = defaults.at(key);
  return v.is_string() ? v.get<std::string>() : v.dump();
}

/// roff text: backslashes and hyphens escaped, no line starting with a control character.
std::string roff(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '\\') out += "\\e";
    else if (c == '-') out += "\\-";
    else out += c;
  }
  if (!out.empty() && (out[0] == '.' || out[0] == '\'')) out = "\\&" + out;
  return out;
}

}  // namespace

void printUsage(std::FILE* out) {
  std::string s = "repnas " + version() +
                  " - search, inspect, fuse and export re-parameterizing blocks\n\n"
                  "usage: repnas COMMAND [options]\n       repnas COMMAND --help\n\ncommands:\n";
  for (const auto& c : commands()) {
    s += "  " + std::string(c.synopsis) + "\n";
    s += wrap(c.summary, 6);
  }
  s += "\nThe desktop application is repnas-studio. See repnas COMMAND --help and man repnas.\n";
  std::fputs(s.c_str(), out);
}

bool printCommandHelp(const std::string& command, std::FILE* out) {
  const auto* c = find(command);
  if (!c) return false;
  std::string s = "usage: repnas " + std::string(c->synopsis) + "\n\n" + wrap(c->description, 0);
  if (!c->options.empty()) {
    s += "\noptions:\n";
    for (const auto& o : c->options) s += "  " + std::string(o.name) + "\n" + wrap(o.text, 6);
  }
  if (command == "search") {
    s += "\nconfiguration keys (--config FILE or --set KEY=VALUE; default in brackets):\n";
    for (const auto& k : configKeyHelp()) {
      s += "  " + k.key + " [" + configDefault(k.key) + "]\n";
      s += wrap(k.description, 6);
    }
  }
  s += "\nexit status: " + std::string(kExitStatus) + "\n";
  std::fputs(s.c_str(), out);
  return true;
}

std::string manPage() {
  std::ostringstream m;
  m << ".TH REPNAS 1 \"" << releaseDate() << "\" \"repnas " << version() << "\" \"User Commands\"\n";
  m << ".SH NAME\nrepnas \\- search, inspect, fuse and export re\\-parameterizing network blocks\n";
  m << ".SH SYNOPSIS\n";
  for (const auto& c : commands()) m << ".B repnas\n" << roff(c.synopsis) << "\n.br\n";
  m << ".SH DESCRIPTION\n"
    << roff("repnas is the command line of RepNAS Studio. Structural re-parameterization trains a "
            "layer as a multi-branch block (KxK, 1x1, 1x1-KxK, 1x1-AVG, 1xK, Kx1 and identity, "
            "each with its own BatchNorm) and folds it into one KxK convolution for inference, "
            "exactly. repnas searches which branches each layer keeps under a global branch "
            "budget (RepNAS), trains the baselines, verifies the fold and exports the folded "
            "network to ONNX, TorchScript and a JSON spec. The desktop application "
            "repnas-studio shows and steers the same engine.")
    << "\n.SH COMMANDS\n";
  for (const auto& c : commands()) {
    m << ".SS " << roff(c.name) << "\n.B repnas " << roff(c.synopsis) << "\n.PP\n"
      << roff(c.description) << "\n";
    for (const auto& o : c.options) m << ".TP\n.B " << roff(o.name) << "\n" << roff(o.text) << "\n";
  }
  m << ".SH CONFIGURATION\n"
    << roff("The keys of the JSON configuration of repnas search (--config FILE, --set KEY=VALUE). "
            "Unknown keys, wrong types and impossible values are errors that name the key.")
    << "\n";
  for (const auto& k : configKeyHelp())
    m << ".TP\n.B " << roff(k.key) << "\n" << roff(k.description + " (default: " + configDefault(k.key) + ")")
      << "\n";
  m << ".SH FILES\n.TP\n.I /usr/share/datasets/fashion-mnist\n"
    << roff("the default data set (Debian package dataset-fashion-mnist)") << "\n"
    << ".TP\n.I DIR/events.jsonl\n" << roff("the event log; repnas-studio can follow it live (File > Monitor run)")
    << "\n.TP\n.I DIR/checkpoint.pt\n" << roff("the last checkpoint; repnas search --resume continues from it")
    << "\n.SH EXIT STATUS\n" << roff(kExitStatus) << "\n";
  m << ".SH EXAMPLES\n.nf\n"
    << roff("repnas search --out runs/first                      # the default search, a few minutes") << "\n"
    << roff("repnas search --out runs/dbb --set strategy=dbb --set epochs=5") << "\n"
    << roff("repnas search --out runs/first --resume             # after Ctrl+C") << "\n"
    << roff("repnas export runs/first --onnx m.onnx --torchscript m.pt --spec m.json") << "\n"
    << roff("repnas evaluate m.onnx") << "\n.fi\n";
  m << ".SH SEE ALSO\n.BR repnas\\-studio (1)\n";
  return m.str();
}

}  // namespace repnas::cli
