// The explainer's sample images (a data set's test images, cached) and its text form (copy,
// repnas explain).
#include <torch/torch.h>

#include <cstdio>
#include <mutex>
#include <sstream>

#include "data/data.h"
#include "explain/explain_internal.h"
#include "repnas/error.h"

namespace repnas {
namespace {

using explain_detail::num;

const char* const kFashionClasses[] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                       "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
const char* const kCifarClasses[] = {"airplane", "automobile", "bird",  "cat",  "deer",
                                     "dog",      "frog",       "horse", "ship", "truck"};

}  // namespace

SampleImage loadSampleImage(const DatasetSpec& spec, int64_t index) {
  // The test split of the last data set read stays in memory (a few MB): paging through
  // sample images must not re-read and re-validate the whole data set each time.
  static std::mutex mutex;
  static std::string cached_key;
  static data::ImageSet cached;
  std::lock_guard<std::mutex> lock(mutex);
  const std::string key = spec.name + "\n" + spec.resolvedDir();
  if (key != cached_key || cached.size() == 0) {
    cached = data::loadDataset(spec).test;
    cached_key = key;
  }
  const auto& test = cached;
  if (index < 0 || index >= test.size())
    throw DataError("test image " + std::to_string(index) + " does not exist (the test set has " +
                    std::to_string(test.size()) + " images)");
  SampleImage s;
  const auto t = test.images[index].to(torch::kDouble).div(255.0).contiguous();  // [C, H, W]
  s.channels = static_cast<int>(t.size(0));
  s.image.height = static_cast<int>(t.size(1));
  s.image.width = static_cast<int>(t.size(2));
  s.image.values.assign(t.data_ptr<double>(), t.data_ptr<double>() + t.numel());
  s.label = static_cast<int>(test.labels[index].item<int64_t>());
  const bool fashion = spec.name == "fashion-mnist";
  const bool cifar = spec.format() == DatasetFormat::Cifar10;
  s.class_name = fashion ? kFashionClasses[s.label]
                 : cifar ? kCifarClasses[s.label]
                         : "class " + std::to_string(s.label);
  const std::string set = fashion ? "Fashion-MNIST" : cifar ? "CIFAR-10" : spec.name;
  s.source = set + " test image " + std::to_string(index) + " (" + s.class_name + ")";
  s.image.caption = s.source;
  return s;
}

namespace {
void writeMatrix(std::ostringstream& out, const ExplainMatrix& m) {
  out << "    " << m.caption << " (" << m.rows << "×" << m.cols << ")";
  if (m.has_bias) out << ", bias " << num(m.bias);
  out << "\n";
  for (int r = 0; r < m.rows; ++r) {
    out << "      ";
    for (int c = 0; c < m.cols; ++c) {
      char buf[24];
      std::snprintf(buf, sizeof buf, "%11.4g", m.values[static_cast<size_t>(r) * m.cols + c]);
      out << buf;
    }
    out << "\n";
  }
}
}  // namespace

std::string explainStepsText(const std::vector<ExplainStep>& steps) {
  std::ostringstream out;
  for (const auto& s : steps) {
    out << "Step " << s.number << ": " << s.title << "\n  " << s.formula << "\n";
    for (const auto& n : s.notes) out << "  (" << n << ")\n";
    auto forms = [&](const char* when, const std::vector<std::string>& list) {
      out << "  " << when << ":";
      for (size_t k = 0; k < list.size(); ++k) out << (k ? " + " : " ") << "[" << list[k] << "]";
      out << "\n";
    };
    forms("before", s.before);
    forms("after", s.after);
    for (const auto& item : s.items) {
      out << "  " << item.caption << "\n";
      for (const auto& m : item.inputs) writeMatrix(out, m);
      if (!item.outputs.empty()) out << "    →\n";
      for (const auto& m : item.outputs) writeMatrix(out, m);
      for (const auto& l : item.lines) out << "    " << l << "\n";
    }
    out << "\n";
  }
  return out.str();
}

std::string explainProofText(const ProofResult& p) {
  std::ostringstream out;
  out << "Proof on " << p.input_source << "\n";
  out << "  BN-and-pad border: " << (p.options.zero_padding ? "zeros (broken on purpose)" : "β − μγ/σ")
      << "; statistics: "
      << (p.options.batch_statistics ? "of this input (training mode, broken on purpose)" : "running (eval mode)")
      << "\n";
  out << "  max |multi-branch − folded| = " << num(p.max_abs_difference) << " (outputs up to "
      << num(p.max_abs_output) << ")\n";
  out << "  on the border (" << p.borderWidth() << " px): " << num(p.border_max)
      << ", inside: " << num(p.interior_max) << "\n";
  return out.str();
}
}  // namespace repnas
