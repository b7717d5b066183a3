#include "repnas/run_folder.h"

#include <filesystem>

namespace repnas {

namespace fs = std::filesystem;

std::string RunFolder::path(const char* name) const { return (fs::path(dir_) / name).string(); }

bool RunFolder::hasConfig() const { return fs::exists(config()); }
bool RunFolder::hasCosts() const { return fs::exists(costs()); }
bool RunFolder::hasEvents() const { return fs::exists(events()); }
bool RunFolder::hasCheckpoint() const { return fs::exists(checkpoint()); }
bool RunFolder::hasWeights() const { return fs::exists(weights()); }
bool RunFolder::hasResults() const { return hasWeights() && fs::exists(architecture()); }

const std::vector<std::string>& RunFolder::atomicallyWrittenFiles() {
  static const std::vector<std::string> names = {kCheckpoint, kWeights, kArchitecture, kConfig, kCosts};
  return names;
}

}  // namespace repnas
