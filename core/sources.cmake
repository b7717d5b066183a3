# The engine's sources, one list per library (core/CMakeLists.txt; fuzz/CMakeLists.txt builds the
# torch-free one again with clang and libFuzzer). Paths relative to core/.

# repnas_plain: no torch. The public API's plain types and every reader and writer of bytes
# (configs, events, specs, ONNX, IDX/CIFAR, run folders), the budget, the strategy registry and
# the command journal.
set(REPNAS_PLAIN_SOURCES
  src/nn/backbone.cpp
  src/nn/block_spec.cpp
  src/nn/branch_kind.cpp
  src/fold/folded_model.cpp
  src/hant/latency_fit.cpp
  src/formats/atomic_file.cpp
  src/formats/config.cpp
  src/formats/data_formats.cpp
  src/formats/events.cpp
  src/formats/input_file.cpp
  src/formats/onnx_io.cpp
  src/formats/run_archive_meta.cpp
  src/formats/spec_io.cpp
  src/search/budget.cpp
  src/search/subset_search.cpp
  src/search/strategy_info.cpp
  src/engine/command_journal.cpp
  src/engine/run_folder.cpp
  src/engine/runtime_info.cpp
)

# repnas_core: LibTorch (and CBC). Modules, folding, data, the strategies and the integer-program
# solvers, the engine, export, the explainer.
set(REPNAS_TORCH_SOURCES
  src/nn/block.cpp
  src/nn/network.cpp
  src/fold/fold.cpp
  src/fold/fusion_check.cpp
  src/data/data.cpp
  src/formats/run_files.cpp
  src/search/alpha_strategy.cpp
  src/search/framework.cpp
  src/search/cost_model.cpp
  src/search/cost_selection.cpp
  src/search/knapsack.cpp
  src/search/strategies/fixed.cpp
  src/search/strategies/gdas.cpp
  src/search/strategies/rena.cpp
  src/search/strategies/repnas.cpp
  src/engine/comparison.cpp
  src/engine/engine.cpp
  src/engine/event_log.cpp
  src/engine/run_configs.cpp
  src/engine/runtime.cpp
  src/hant/alternatives.cpp
  src/hant/hant.cpp
  src/export/export.cpp
  src/export/folded_files.cpp
  src/export/load_run.cpp
  src/export/inspect.cpp
  src/explain/explainer.cpp
  src/explain/proof.cpp
  src/explain/text.cpp
)
