#include "repnas/block_spec.h"

#include "repnas/error.h"

namespace repnas {

void BlockSpec::validate() const {
  auto fail = [](const std::string& what) { throw Error("invalid block: " + what); };
  const auto channels = [&](const char* name, int c) {
    if (c < 1 || c > kMaxChannels)
      fail(std::string(name) + " must be in 1.." + std::to_string(kMaxChannels) + ", got " +
           std::to_string(c));
  };
  channels("in_channels", in_channels);
  channels("out_channels", out_channels);
  if (kernel_size < 3 || kernel_size > kMaxKernelSize || kernel_size % 2 == 0)
    fail("kernel_size must be odd and in 3.." + std::to_string(kMaxKernelSize) + ", got " +
         std::to_string(kernel_size));
  if (stride < 1 || stride > 2) fail("stride must be 1 or 2, got " + std::to_string(stride));
  if (groups < 1 || in_channels % groups || out_channels % groups)
    fail("groups " + std::to_string(groups) + " must divide in_channels " +
         std::to_string(in_channels) + " and out_channels " + std::to_string(out_channels));
}

std::string BlockSpec::geometryName() const {
  const std::string g = isDepthwise() ? "dw" : std::to_string(groups);
  return "k" + std::to_string(kernel_size) + " s" + std::to_string(stride) + " g" + g + " " +
         std::to_string(in_channels) + "->" + std::to_string(out_channels);
}

std::string BlockSpec::branchSetName() const {
  std::string name = branches.all() ? "all" : maskName(branches);
  if (hasIdentityBranch()) name = branches.none() ? "identity" : name + "+id";
  return name;
}

}  // namespace repnas
