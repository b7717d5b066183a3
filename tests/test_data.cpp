// The data module: IDX and CIFAR-10 readers on tiny synthetic files (plain and gzipped), every
// kind of bad file, normalisation, augmentation, batching, validation split, and — when Debian's
// dataset-fashion-mnist is installed — the real Fashion-MNIST.
// torch before Qt: Qt's `slots` macro breaks torch headers.
#include <torch/torch.h>

#include <QElapsedTimer>
#include <QtTest>

#include <zlib.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "data/data.h"
#include "repnas/dataset.h"

using namespace repnas;
using namespace repnas::data;
using Bytes = std::vector<uint8_t>;

namespace {

void appendBe32(Bytes& b, uint32_t v) {
  b.push_back(static_cast<uint8_t>(v >> 24));
  b.push_back(static_cast<uint8_t>(v >> 16));
  b.push_back(static_cast<uint8_t>(v >> 8));
  b.push_back(static_cast<uint8_t>(v));
}

Bytes idxImages(uint32_t n, uint32_t h, uint32_t w, const Bytes& pixels,
                uint32_t magic = 0x00000803) {
  Bytes b;
  appendBe32(b, magic);
  appendBe32(b, n);
  appendBe32(b, h);
  appendBe32(b, w);
  b.insert(b.end(), pixels.begin(), pixels.end());
  return b;
}

Bytes idxLabels(const Bytes& labels, uint32_t magic = 0x00000801) {
  Bytes b;
  appendBe32(b, magic);
  appendBe32(b, static_cast<uint32_t>(labels.size()));
  b.insert(b.end(), labels.begin(), labels.end());
  return b;
}

// CIFAR-10 records: 1 label byte + 3072 image bytes each.
Bytes cifarRecords(const Bytes& labels, const Bytes& pixels) {
  Bytes b;
  for (size_t i = 0; i < labels.size(); ++i) {
    b.push_back(labels[i]);
    b.insert(b.end(), pixels.begin() + static_cast<long>(i * 3072),
             pixels.begin() + static_cast<long>((i + 1) * 3072));
  }
  return b;
}

Bytes randomBytes(size_t n, uint32_t seed, int lo = 0, int hi = 255) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> dist(lo, hi);
  Bytes b(n);
  for (auto& v : b) v = static_cast<uint8_t>(dist(rng));
  return b;
}

Bytes randomLabels(size_t n, uint32_t seed) { return randomBytes(n, seed, 0, 9); }

void writeFile(const std::string& path, const Bytes& bytes, bool gzip = false) {
  if (gzip) {
    gzFile f = gzopen(path.c_str(), "wb");
    QVERIFY(f != nullptr);
    if (!bytes.empty())
      QCOMPARE(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())),
               static_cast<int>(bytes.size()));
    QCOMPARE(gzclose(f), Z_OK);
  } else {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    QVERIFY(out.good());
  }
}

Bytes readRaw(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

torch::Tensor toTensor(const Bytes& b, std::vector<int64_t> sizes) {
  return torch::from_blob(const_cast<uint8_t*>(b.data()), sizes, torch::kUInt8).clone();
}

// Empty when `f` throws a DataError whose message contains every needle; otherwise what went
// wrong (no exception, another exception, or the message lacking a needle).
template <typename... Needles>
QString dataErrorProblem(const std::function<void()>& f, const Needles&... needles) {
  QString msg;
  try {
    f();
    return QStringLiteral("no exception was thrown");
  } catch (const DataError& e) {
    msg = QString::fromStdString(e.what());
  } catch (const std::exception& e) {
    return QStringLiteral("not a DataError: ") + QString::fromUtf8(e.what());
  }
  for (const std::string& n : std::vector<std::string>{std::string(needles)...})
    if (!msg.contains(QString::fromStdString(n)))
      return QStringLiteral("message \"%1\" lacks \"%2\"").arg(msg, QString::fromStdString(n));
  return {};
}

// VERIFY_DATA_ERROR(callable, needle...): variadic so that commas inside the lambda are fine.
#define VERIFY_DATA_ERROR(...)                                  \
  do {                                                          \
    const QString problem_ = dataErrorProblem(__VA_ARGS__);     \
    QVERIFY2(problem_.isEmpty(), qPrintable(problem_));         \
  } while (0)

bool sameTensor(const torch::Tensor& a, const torch::Tensor& b) {
  return a.sizes() == b.sizes() && a.dtype() == b.dtype() && torch::equal(a, b);
}

}  // namespace

class TestData : public QObject {
  Q_OBJECT

  QTemporaryDir tmp_;
  std::string path(const std::string& rel) const { return tmp_.filePath(QString::fromStdString(rel)).toStdString(); }
  std::string makeDir(const std::string& rel) const {
    const auto p = path(rel);
    std::filesystem::create_directories(p);
    return p;
  }

  // An IDX folder: train 6 images of 4x3, test 4 images; `gz` picks which files are gzipped.
  struct IdxFolder {
    std::string dir;
    Bytes train_pixels, train_labels, test_pixels, test_labels;
  };
  IdxFolder makeIdxFolder(const std::string& rel, bool gz, uint32_t seed = 1) {
    IdxFolder f;
    f.dir = makeDir(rel);
    f.train_pixels = randomBytes(6 * 4 * 3, seed);
    f.train_labels = randomLabels(6, seed + 1);
    f.test_pixels = randomBytes(4 * 4 * 3, seed + 2);
    f.test_labels = randomLabels(4, seed + 3);
    const std::string ext = gz ? ".gz" : "";
    writeFile(f.dir + "/train-images-idx3-ubyte" + ext, idxImages(6, 4, 3, f.train_pixels), gz);
    writeFile(f.dir + "/train-labels-idx1-ubyte" + ext, idxLabels(f.train_labels), gz);
    writeFile(f.dir + "/t10k-images-idx3-ubyte" + ext, idxImages(4, 4, 3, f.test_pixels), gz);
    writeFile(f.dir + "/t10k-labels-idx1-ubyte" + ext, idxLabels(f.test_labels), gz);
    return f;
  }

  // A CIFAR folder: 5 train batches of 2 records, a test batch of 3.
  struct CifarFolder {
    std::string dir;
    Bytes train_pixels, train_labels, test_pixels, test_labels;
  };
  CifarFolder makeCifarFolder(const std::string& rel) {
    CifarFolder f;
    f.dir = makeDir(rel);
    for (int i = 1; i <= 5; ++i) {
      const auto pixels = randomBytes(2 * 3072, 100 + i);
      const auto labels = randomLabels(2, 200 + i);
      writeFile(f.dir + "/data_batch_" + std::to_string(i) + ".bin", cifarRecords(labels, pixels));
      f.train_pixels.insert(f.train_pixels.end(), pixels.begin(), pixels.end());
      f.train_labels.insert(f.train_labels.end(), labels.begin(), labels.end());
    }
    f.test_pixels = randomBytes(3 * 3072, 300);
    f.test_labels = randomLabels(3, 301);
    writeFile(f.dir + "/test_batch.bin", cifarRecords(f.test_labels, f.test_pixels));
    return f;
  }

 private Q_SLOTS:
  void initTestCase() {
    QVERIFY(tmp_.isValid());
    torch::manual_seed(11);
  }

  // ------------------------------------------------------------------------------- readers

  void idxRoundTrip_data() {
    QTest::addColumn<bool>("gz");
    QTest::newRow("plain") << false;
    QTest::newRow("gzip") << true;
  }
  void idxRoundTrip() {
    QFETCH(bool, gz);
    const auto f = makeIdxFolder(gz ? "rt-gz" : "rt-plain", gz);
    const std::string ext = gz ? ".gz" : "";
    const auto images = readIdxImages(f.dir + "/train-images-idx3-ubyte" + ext);
    QVERIFY(sameTensor(images, toTensor(f.train_pixels, {6, 1, 4, 3})));
    const auto labels = readIdxLabels(f.dir + "/train-labels-idx1-ubyte" + ext);
    QVERIFY(sameTensor(labels, toTensor(f.train_labels, {6}).to(torch::kLong)));
    const auto pair = readIdxPair(f.dir + "/t10k-images-idx3-ubyte" + ext,
                                  f.dir + "/t10k-labels-idx1-ubyte" + ext);
    QCOMPARE(pair.size(), int64_t{4});
    QVERIFY(sameTensor(pair.images, toTensor(f.test_pixels, {4, 1, 4, 3})));
    QVERIFY(sameTensor(pair.labels, toTensor(f.test_labels, {4}).to(torch::kLong)));

    const auto loaded = loadDataset({"idx", f.dir});
    QVERIFY(sameTensor(loaded.train.images, toTensor(f.train_pixels, {6, 1, 4, 3})));
    QVERIFY(sameTensor(loaded.train.labels, toTensor(f.train_labels, {6}).to(torch::kLong)));
    QVERIFY(sameTensor(loaded.test.images, toTensor(f.test_pixels, {4, 1, 4, 3})));
    QVERIFY(sameTensor(loaded.test.labels, toTensor(f.test_labels, {4}).to(torch::kLong)));
    QCOMPARE(loaded.info.files.size(), size_t{4});
    QCOMPARE(loaded.info.files[0], f.dir + "/train-images-idx3-ubyte" + ext);
  }

  void readFileMaybeGzipReadsBoth() {
    const auto bytes = randomBytes(300000, 5);
    writeFile(path("raw.bin"), bytes);
    writeFile(path("raw.bin.gz"), bytes, true);
    QVERIFY(readFileMaybeGzip(path("raw.bin")) == bytes);
    QVERIFY(readFileMaybeGzip(path("raw.bin.gz")) == bytes);
    writeFile(path("empty.bin"), {});
    QVERIFY(readFileMaybeGzip(path("empty.bin")).empty());
  }

  // Plain is preferred when both exist; a folder may mix plain and gzipped files.
  void idxPlainPreferredAndMixed() {
    const auto plain = makeIdxFolder("mixed", false, 1);
    const auto other = randomBytes(6 * 4 * 3, 99);
    writeFile(plain.dir + "/train-images-idx3-ubyte.gz", idxImages(6, 4, 3, other), true);
    auto loaded = loadDataset({"mnist", plain.dir});
    QVERIFY(sameTensor(loaded.train.images, toTensor(plain.train_pixels, {6, 1, 4, 3})));
    std::filesystem::remove(plain.dir + "/train-images-idx3-ubyte");
    loaded = loadDataset({"mnist", plain.dir});
    QVERIFY(sameTensor(loaded.train.images, toTensor(other, {6, 1, 4, 3})));
    QCOMPARE(loaded.info.files[0], plain.dir + "/train-images-idx3-ubyte.gz");
  }

  void cifarRoundTrip_data() {
    QTest::addColumn<bool>("gz");
    QTest::newRow("plain") << false;
    QTest::newRow("gzip") << true;
  }
  void cifarRoundTrip() {
    QFETCH(bool, gz);
    const auto pixels = randomBytes(3 * 3072, 7);
    const Bytes labels{0, 9, 4};
    const auto pixels2 = randomBytes(2 * 3072, 8);
    const Bytes labels2{3, 1};
    const auto a = path(gz ? "c1.bin.gz" : "c1.bin"), b = path(gz ? "c2.bin.gz" : "c2.bin");
    writeFile(a, cifarRecords(labels, pixels), gz);
    writeFile(b, cifarRecords(labels2, pixels2), gz);
    const auto set = readCifar10Batches({a, b});
    QCOMPARE(set.size(), int64_t{5});
    const auto expected_images =
        torch::cat({toTensor(pixels, {3, 3, 32, 32}), toTensor(pixels2, {2, 3, 32, 32})});
    QVERIFY(sameTensor(set.images, expected_images));
    QVERIFY(sameTensor(set.labels, torch::tensor({0, 9, 4, 3, 1}, torch::kLong)));
    // CHW as stored: byte 1 + 1024 of record 0 is channel 1, pixel (0, 0).
    QCOMPARE(set.images[0][1][0][0].item<int>(), int(pixels[1024]));
    QCOMPARE(set.images[1][2][31][31].item<int>(), int(pixels[3072 + 3071]));
  }

  void cifarLoadAndInspect() {
    const auto f = makeCifarFolder("cifar");
    const auto loaded = loadDataset({"cifar10", f.dir});
    QVERIFY(sameTensor(loaded.train.images, toTensor(f.train_pixels, {10, 3, 32, 32})));
    QVERIFY(sameTensor(loaded.train.labels, toTensor(f.train_labels, {10}).to(torch::kLong)));
    QVERIFY(sameTensor(loaded.test.images, toTensor(f.test_pixels, {3, 3, 32, 32})));
    QVERIFY(sameTensor(loaded.test.labels, toTensor(f.test_labels, {3}).to(torch::kLong)));

    const auto info = inspectDataset({"cifar10", f.dir});
    QCOMPARE(info.name, std::string("cifar10"));
    QCOMPARE(info.train_count, int64_t{10});
    QCOMPARE(info.test_count, int64_t{3});
    QCOMPARE(info.channels, 3);
    QCOMPARE(info.height, 32);
    QCOMPARE(info.width, 32);
    QCOMPARE(info.num_classes, 10);
    QCOMPARE(info.files.size(), size_t{6});
    QCOMPARE(info.files.front(), f.dir + "/data_batch_1.bin");
    QCOMPARE(info.files.back(), f.dir + "/test_batch.bin");
  }

  void inspectIdxFolder() {
    const auto f = makeIdxFolder("inspect", true);
    const auto info = inspectDataset({"idx", f.dir});
    QCOMPARE(info.name, std::string("idx"));
    QCOMPARE(info.dir, f.dir);
    QCOMPARE(info.train_count, int64_t{6});
    QCOMPARE(info.test_count, int64_t{4});
    QCOMPARE(info.channels, 1);
    QCOMPARE(info.height, 4);
    QCOMPARE(info.width, 3);
    QCOMPARE(info.num_classes, 10);
    const std::vector<std::string> files{
        f.dir + "/train-images-idx3-ubyte.gz", f.dir + "/train-labels-idx1-ubyte.gz",
        f.dir + "/t10k-images-idx3-ubyte.gz", f.dir + "/t10k-labels-idx1-ubyte.gz"};
    QVERIFY(info.files == files);
  }

  void specNamesAndFolders() {
    const auto spec = [](const char* name, const char* dir) { return DatasetSpec{name, dir}; };
    QVERIFY(spec("fashion-mnist", "").format() == DatasetFormat::Idx);
    QVERIFY(spec("mnist", "/x").format() == DatasetFormat::Idx);
    QVERIFY(spec("idx", "/x").format() == DatasetFormat::Idx);
    QVERIFY(spec("cifar10", "/x").format() == DatasetFormat::Cifar10);
    QCOMPARE(spec("fashion-mnist", "").resolvedDir(), std::string(kDefaultFashionMnistDir));
    QCOMPARE(spec("mnist", "/data/m").resolvedDir(), std::string("/data/m"));
    VERIFY_DATA_ERROR([] { DatasetSpec{"mnist", ""}.resolvedDir(); }, "mnist", "folder");
  }

  // ---------------------------------------------------------------------------- bad files

  void errorWrongMagic() {
    const auto p = path("magic-images");
    writeFile(p, idxImages(2, 2, 2, Bytes(8, 1), 0x00000801));
    VERIFY_DATA_ERROR([&] { readIdxImages(p); }, p, "wrong magic number 0x00000801",
                      "expected 0x00000803");
    const auto q = path("magic-labels");
    writeFile(q, idxLabels({1, 2}, 0x00000803));
    VERIFY_DATA_ERROR([&] { readIdxLabels(q); }, q, "magic", "0x00000801");
  }

  void errorTruncatedImages_data() {
    QTest::addColumn<bool>("gz");
    QTest::newRow("plain") << false;
    QTest::newRow("gzip") << true;
  }
  void errorTruncatedImages() {
    QFETCH(bool, gz);
    const auto p = path(gz ? "trunc-images.gz" : "trunc-images");
    auto bytes = idxImages(10, 28, 28, randomBytes(1000, 3));
    writeFile(p, bytes, gz);
    VERIFY_DATA_ERROR([&] { readIdxImages(p); }, p, "truncated", "10 images of 28x28",
                      "7856 bytes", "1016 bytes");
    // Shorter than the header.
    writeFile(p, Bytes{0, 0, 8, 3, 0, 0}, gz);
    VERIFY_DATA_ERROR([&] { readIdxImages(p); }, p, "truncated");
    const auto q = path(gz ? "trunc-labels.gz" : "trunc-labels");
    auto labels = idxLabels(Bytes(10, 1));
    labels.resize(labels.size() - 3);
    writeFile(q, labels, gz);
    VERIFY_DATA_ERROR([&] { readIdxLabels(q); }, q, "truncated");
  }

  // Absurd dimensions: reported, not allocated, and no overflow.
  void errorAbsurdHeader() {
    const auto p = path("absurd");
    writeFile(p, idxImages(0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu, Bytes(64, 1)));
    VERIFY_DATA_ERROR([&] { readIdxImages(p); }, p, "too large", "4294967295 images");
    writeFile(p, idxImages(0x10000, 0x10000, 0x10000, Bytes(64, 1)));
    VERIFY_DATA_ERROR([&] { readIdxImages(p); }, p, "too large");
    writeFile(p, idxImages(1000, 28, 28, Bytes(64, 1)));  // plausible header, short file
    VERIFY_DATA_ERROR([&] { readIdxImages(p); }, p, "truncated", "784016 bytes");
    writeFile(p, idxImages(0, 28, 28, {}));
    VERIFY_DATA_ERROR([&] { readIdxImages(p); }, p, "empty");
    writeFile(p, idxImages(3, 0, 28, {}));
    VERIFY_DATA_ERROR([&] { readIdxImages(p); }, p, "empty");
  }

  void errorTrailingBytes() {
    const auto p = path("trailing-images");
    writeFile(p, idxImages(2, 3, 3, Bytes(19, 5)));
    VERIFY_DATA_ERROR([&] { readIdxImages(p); }, p, "trailing", "34 bytes", "35 bytes");
    const auto q = path("trailing-labels");
    auto labels = idxLabels({1, 2, 3});
    labels.push_back(0);
    writeFile(q, labels);
    VERIFY_DATA_ERROR([&] { readIdxLabels(q); }, q, "trailing");
  }

  // A gzip bomb: a valid header for one 1x1 image, then 300 MB of zeros (about 300 kB
  // compressed). It is refused as trailing data after decoding at most 64 MiB of the rest, and
  // a header that claims more than a data file may hold is refused before anything is decoded.
  void gzipBombIsRefusedWithoutDecodingItWhole() {
    const auto p = path("bomb.gz");
    gzFile f = gzopen(p.c_str(), "wb9");
    QVERIFY(f);
    const Bytes header = idxImages(1, 1, 1, Bytes(1, 7));
    gzwrite(f, header.data(), static_cast<unsigned>(header.size()));
    const Bytes zeros(1 << 20, 0);
    for (int i = 0; i < 300; ++i) gzwrite(f, zeros.data(), static_cast<unsigned>(zeros.size()));
    gzclose(f);
    QVERIFY(std::filesystem::file_size(p) < (2u << 20));
    QElapsedTimer t;
    t.start();
    VERIFY_DATA_ERROR([&] { readIdxImages(p); }, p, "trailing data", "more than");
    qInfo("refused in %lld ms", static_cast<long long>(t.elapsed()));
    // Trailing bytes that are not a gzip member.
    const auto q = path("junk.gz");
    writeFile(q, idxLabels({1, 2}), true);
    {
      std::ofstream out(q, std::ios::app | std::ios::binary);
      out << "junk";
    }
    VERIFY_DATA_ERROR([&] { readIdxLabels(q); }, q, "trailing data");
  }

  void dataFileThatIsNotARegularFileIsRefused() {
    const auto link = path("zero-images");
    std::filesystem::create_symlink("/dev/zero", link);
    VERIFY_DATA_ERROR([&] { readIdxImages(link); }, link, "not a regular file");
  }

  void errorLabelOutOfRange() {
    const auto p = path("bad-labels");
    writeFile(p, idxLabels({0, 1, 2, 3, 4, 12, 5, 200}));
    VERIFY_DATA_ERROR([&] { readIdxLabels(p); }, p, "label 12 at index 5 is outside 0..9");
    // The same file is fine with more classes, until 200.
    VERIFY_DATA_ERROR([&] { readIdxLabels(p, 100); }, p, "label 200 at index 7 is outside 0..99");
    QCOMPARE(readIdxLabels(p, 201).size(0), int64_t{8});
  }

  void errorCountMismatch() {
    const auto a = path("count-images"), b = path("count-labels");
    writeFile(a, idxImages(5, 2, 2, Bytes(20, 1)));
    writeFile(b, idxLabels({1, 2, 3, 4}));
    VERIFY_DATA_ERROR([&] { readIdxPair(a, b); },
                      "image count 5 does not match label count 4", a, b);
  }

  void errorMissingFile() {
    const auto f = makeIdxFolder("missing", false);
    std::filesystem::remove(f.dir + "/t10k-labels-idx1-ubyte");
    VERIFY_DATA_ERROR([&] { loadDataset({"idx", f.dir}); },
                      "missing file: no t10k-labels-idx1-ubyte or t10k-labels-idx1-ubyte.gz in " + f.dir);
    VERIFY_DATA_ERROR([&] { inspectDataset({"idx", f.dir}); }, "t10k-labels-idx1-ubyte", "missing");
    const auto nowhere = path("does-not-exist");
    VERIFY_DATA_ERROR([&] { loadDataset({"idx", nowhere}); }, nowhere, "missing");
    VERIFY_DATA_ERROR([&] { readIdxImages(nowhere + "/x-idx3-ubyte"); }, "x-idx3-ubyte", "missing");
    const auto c = makeCifarFolder("cifar-missing");
    std::filesystem::remove(c.dir + "/data_batch_4.bin");
    VERIFY_DATA_ERROR([&] { loadDataset({"cifar10", c.dir}); }, "data_batch_4.bin", "missing",
                      c.dir);
  }

  void errorCorruptGzip() {
    const auto images = idxImages(20, 8, 8, randomBytes(20 * 64, 4, 0, 3));
    const auto good = path("good.gz");
    writeFile(good, images, true);
    const auto gz = readRaw(good);
    QVERIFY(gz.size() > 40);

    // Cut short.
    const auto cut = path("cut-images-idx3-ubyte.gz");
    writeFile(cut, Bytes(gz.begin(), gz.begin() + static_cast<long>(gz.size() / 2)));
    VERIFY_DATA_ERROR([&] { readIdxImages(cut); }, cut, "gzip");
    // Bytes flipped inside the deflate stream.
    auto flipped = gz;
    for (size_t i = 12; i < flipped.size() - 8; i += 7) flipped[i] ^= 0x5A;
    const auto bad = path("flipped-images-idx3-ubyte.gz");
    writeFile(bad, flipped);
    VERIFY_DATA_ERROR([&] { readIdxImages(bad); }, bad, "gzip");
    // Only the CRC is wrong.
    auto crc = gz;
    crc[crc.size() - 6] ^= 0xFF;
    const auto bad_crc = path("crc-images-idx3-ubyte.gz");
    writeFile(bad_crc, crc);
    VERIFY_DATA_ERROR([&] { readIdxImages(bad_crc); }, bad_crc, "gzip");
  }

  void errorCifarSize() {
    const auto p = path("odd_batch.bin");
    auto bytes = cifarRecords({1, 2}, randomBytes(2 * 3072, 9));
    bytes.resize(bytes.size() + 5);
    writeFile(p, bytes);
    VERIFY_DATA_ERROR([&] { readCifar10Batches({p}); }, p, "6151 bytes", "not a multiple of 3073");
    const auto e = path("empty_batch.bin");
    writeFile(e, {});
    VERIFY_DATA_ERROR([&] { readCifar10Batches({e}); }, e, "empty");
  }

  void errorCifarLabel() {
    const auto good = path("good_batch.bin");
    writeFile(good, cifarRecords({1}, randomBytes(3072, 1)));
    const auto p = path("label_batch.bin");
    writeFile(p, cifarRecords({1, 2, 10}, randomBytes(3 * 3072, 10)));
    VERIFY_DATA_ERROR([&] { readCifar10Batches({good, p}); }, p, "label 10 at record 2",
                      "outside 0..9");
  }

  void errorUnknownName() {
    const auto dir = makeDir("unknown");
    VERIFY_DATA_ERROR([&] { DatasetSpec{"imagenet", dir}.format(); }, "imagenet", "unknown");
    VERIFY_DATA_ERROR([&] { loadDataset({"imagenet", dir}); }, "imagenet", "unknown");
    VERIFY_DATA_ERROR([&] { inspectDataset({"imagenet", ""}); }, "imagenet", "unknown");
  }

  void errorTrainTestShapesDiffer() {
    const auto f = makeIdxFolder("shapes", false);
    writeFile(f.dir + "/t10k-images-idx3-ubyte", idxImages(4, 5, 3, Bytes(60, 1)));
    VERIFY_DATA_ERROR([&] { loadDataset({"idx", f.dir}); }, "1x4x3", "1x5x3",
                      f.dir + "/t10k-images-idx3-ubyte");
  }

  // ------------------------------------------------------------------------- preprocessing

  void normalizationMatchesDirectComputation() {
    // 1M pixels per image: several chunks.
    const auto images = torch::randint(0, 256, {9, 1, 1024, 1024}, torch::kUInt8);
    const auto norm = computeNormalization(images);
    const auto x = images.to(torch::kDouble) / 255.0;
    QCOMPARE(norm.mean.size(), size_t{1});
    QVERIFY(std::abs(norm.mean[0] - x.mean().item<double>()) < 1e-12);
    QVERIFY(std::abs(norm.std[0] - x.std(/*unbiased=*/false).item<double>()) < 1e-12);

    const auto rgb = torch::randint(0, 256, {30, 3, 5, 4}, torch::kUInt8);
    const auto n3 = computeNormalization(rgb);
    const auto y = rgb.to(torch::kDouble) / 255.0;
    for (int c = 0; c < 3; ++c) {
      const auto ch = y.select(1, c);
      QVERIFY(std::abs(n3.mean[c] - ch.mean().item<double>()) < 1e-12);
      QVERIFY(std::abs(n3.std[c] - ch.std(false).item<double>()) < 1e-12);
    }
    VERIFY_DATA_ERROR([] { computeNormalization(torch::zeros({0, 1, 2, 2}, torch::kUInt8)); },
                      "empty");
  }

  void prepareBatchNormalises() {
    const auto images = torch::tensor({0, 255, 51, 102}, torch::kUInt8).reshape({1, 2, 1, 2});
    const Normalization norm{{0.5, 0.2}, {0.5, 0.1}};
    const auto out = prepareBatch(images, norm, {}, nullptr);
    QCOMPARE(out.scalar_type(), torch::kFloat);
    QVERIFY(out.sizes() == images.sizes());
    const auto expected = torch::tensor({-1.0f, 1.0f, 0.0f, 2.0f}).reshape({1, 2, 1, 2});
    QVERIFY(torch::allclose(out, expected, 1e-6, 1e-6));
    // Without a generator, augmentation options do nothing.
    AugmentOptions aug;
    aug.crop_padding = 4;
    aug.horizontal_flip = true;
    QVERIFY(torch::equal(prepareBatch(images, norm, aug, nullptr), out));
    VERIFY_DATA_ERROR([&] { prepareBatch(images, Normalization{{0.5}, {0.5}}, {}, nullptr); },
                      "channels");
  }

  void augmentationIsDeterministic() {
    const auto images = torch::randint(0, 256, {16, 3, 8, 8}, torch::kUInt8);
    const Normalization norm{{0.4, 0.5, 0.6}, {0.2, 0.25, 0.3}};
    AugmentOptions aug;
    aug.crop_padding = 4;
    aug.horizontal_flip = true;
    auto g1 = makeGenerator(5, {1, 2});
    torch::manual_seed(1);  // the global generator must not matter
    const auto a = prepareBatch(images, norm, aug, &g1);
    auto g2 = makeGenerator(5, {1, 2});
    torch::manual_seed(999);
    const auto b = prepareBatch(images, norm, aug, &g2);
    QVERIFY(torch::equal(a, b));
    auto g3 = makeGenerator(6, {1, 2});
    const auto c = prepareBatch(images, norm, aug, &g3);
    QVERIFY(!torch::equal(a, c));
    QVERIFY(a.sizes() == images.sizes());
    // The generator advances: a second batch from g1 differs from the first.
    QVERIFY(!torch::equal(prepareBatch(images, norm, aug, &g1), a));
  }

  // Every output is the input shifted by some (dy, dx) in [-p, p]², zero-filled.
  void cropIsAShiftedCopy() {
    const int p = 2, B = 24, C = 2, H = 6, W = 5;
    const auto images = torch::randint(1, 256, {B, C, H, W}, torch::kUInt8);  // no zeros
    const Normalization identity{{0.0, 0.0}, {1.0 / 255, 1.0 / 255}};
    AugmentOptions aug;
    aug.crop_padding = p;
    auto gen = makeGenerator(3, {});
    const auto out = prepareBatch(images, identity, aug, &gen);
    QVERIFY(out.sizes() == images.sizes());
    const auto pixels = out.round().to(torch::kInt);
    QVERIFY(torch::allclose(out, pixels.to(torch::kFloat), 0, 1e-3));
    const auto images_int = images.to(torch::kInt);
    const auto in = images_int.accessor<int, 4>();
    const auto got = pixels.accessor<int, 4>();

    std::set<std::pair<int, int>> shifts_seen;
    for (int b = 0; b < B; ++b) {
      int matches = 0;
      for (int dy = -p; dy <= p; ++dy)
        for (int dx = -p; dx <= p; ++dx) {
          bool same = true;
          for (int c = 0; c < C && same; ++c)
            for (int y = 0; y < H && same; ++y)
              for (int x = 0; x < W && same; ++x) {
                const int sy = y + dy, sx = x + dx;
                const int want = (sy >= 0 && sy < H && sx >= 0 && sx < W) ? in[b][c][sy][sx] : 0;
                same = got[b][c][y][x] == want;
              }
          if (same) {
            ++matches;
            shifts_seen.insert({dy, dx});
          }
        }
      QVERIFY2(matches == 1, qPrintable(QStringLiteral("image %1 matches %2 shifts").arg(b).arg(matches)));
    }
    QVERIFY(shifts_seen.size() >= 4);  // 24 draws from 25 offsets
  }

  void flipFlips() {
    const int B = 32;
    const auto images = torch::randint(0, 256, {B, 1, 4, 5}, torch::kUInt8);
    const Normalization identity{{0.0}, {1.0 / 255}};
    AugmentOptions aug;
    aug.horizontal_flip = true;
    auto gen = makeGenerator(9, {4});
    const auto out = prepareBatch(images, identity, aug, &gen).round().to(torch::kUInt8);
    int flipped = 0;
    for (int b = 0; b < B; ++b) {
      const bool same = torch::equal(out[b], images[b]);
      const bool mirrored = torch::equal(out[b], images[b].flip({2}));
      QVERIFY(same || mirrored);
      if (mirrored && !same) ++flipped;
    }
    QVERIFY2(flipped > 4 && flipped < B - 4, qPrintable(QString::number(flipped)));
    // Manual check of one flipped image: column x comes from column W-1-x.
    for (int b = 0; b < B; ++b)
      if (!torch::equal(out[b], images[b])) {
        for (int x = 0; x < 5; ++x)
          QVERIFY(torch::equal(out[b].select(2, x), images[b].select(2, 4 - x)));
        break;
      }
  }

  // ------------------------------------------------------------------------------ batching

  void samplerCoversEveryIndexOnce() {
    const BatchSampler s(103, 10, 42, /*drop_last=*/false);
    QCOMPARE(s.batchesPerEpoch(), int64_t{11});
    std::vector<torch::Tensor> epochs;
    for (int64_t e = 0; e < 3; ++e) {
      std::vector<torch::Tensor> parts;
      for (int64_t step = 0; step < s.batchesPerEpoch(); ++step) {
        const auto idx = s.batchIndices(e, step);
        QCOMPARE(idx.size(0), step == 10 ? int64_t{3} : int64_t{10});
        QCOMPARE(idx.scalar_type(), torch::kLong);
        parts.push_back(idx);
      }
      const auto all = torch::cat(parts);
      QVERIFY(torch::equal(std::get<0>(all.sort()), torch::arange(103, torch::kLong)));
      epochs.push_back(all);
    }
    QVERIFY(!torch::equal(epochs[0], epochs[1]));
    QVERIFY(!torch::equal(epochs[1], epochs[2]));
    QVERIFY(!torch::equal(epochs[0], torch::arange(103, torch::kLong)));

    // Another sampler with the same seed, asked out of order (as a resumed run is).
    const BatchSampler t(103, 10, 42, false);
    QVERIFY(torch::equal(t.batchIndices(2, 5), epochs[2].narrow(0, 50, 10)));
    QVERIFY(torch::equal(t.batchIndices(0, 10), epochs[0].narrow(0, 100, 3)));
    QVERIFY(torch::equal(t.batchIndices(2, 0), epochs[2].narrow(0, 0, 10)));
    const BatchSampler u(103, 10, 43, false);
    QVERIFY(!torch::equal(u.batchIndices(0, 0), epochs[0].narrow(0, 0, 10)));
  }

  void samplerDropLast() {
    const BatchSampler s(103, 10, 1, /*drop_last=*/true);
    QCOMPARE(s.batchesPerEpoch(), int64_t{10});
    std::vector<torch::Tensor> parts;
    for (int64_t step = 0; step < 10; ++step) parts.push_back(s.batchIndices(0, step));
    const auto all = torch::cat(parts);
    const auto acc = all.accessor<int64_t, 1>();
    std::set<int64_t> distinct;
    for (int64_t i = 0; i < acc.size(0); ++i) distinct.insert(acc[i]);
    QCOMPARE(distinct.size(), size_t{100});
    VERIFY_DATA_ERROR([&] { s.batchIndices(0, 10); }, "step 10");

    // Smaller than one batch: one batch of the whole set, either way.
    for (bool drop : {true, false}) {
      const BatchSampler small(7, 10, 1, drop);
      QCOMPARE(small.batchesPerEpoch(), int64_t{1});
      QVERIFY(torch::equal(std::get<0>(small.batchIndices(3, 0).sort()), torch::arange(7, torch::kLong)));
    }
    VERIFY_DATA_ERROR([] { BatchSampler(10, 0, 1); }, "batch size 0");
    VERIFY_DATA_ERROR([] { BatchSampler(0, 4, 1); }, "empty");
  }

  void samplerGathersBatches() {
    ImageSet set;
    set.images = torch::arange(20, torch::kUInt8).reshape({20, 1, 1, 1}).expand({20, 1, 2, 2}).contiguous();
    set.labels = torch::arange(20, torch::kLong) % 10;
    const BatchSampler s(20, 6, 8);
    const auto batch = s.batch(set, 1, 2);
    const auto idx = s.batchIndices(1, 2);
    QCOMPARE(batch.size(), int64_t{6});
    QVERIFY(torch::equal(batch.images.select(2, 0).select(2, 0).flatten().to(torch::kLong), idx));
    QVERIFY(torch::equal(batch.labels, idx % 10));
  }

  void generatorsAreSeededByTheTuple() {
    auto draw = [](uint64_t seed, std::initializer_list<uint64_t> stream) {
      auto g = makeGenerator(seed, stream);
      return torch::randint(0, 1 << 30, {8}, g, torch::kLong);
    };
    QVERIFY(torch::equal(draw(1, {2, 3}), draw(1, {2, 3})));
    QVERIFY(!torch::equal(draw(1, {2, 3}), draw(1, {3, 2})));
    QVERIFY(!torch::equal(draw(1, {2, 3}), draw(2, {2, 3})));
    QVERIFY(!torch::equal(draw(1, {}), draw(1, {0})));
    QVERIFY(!torch::equal(draw(0, {0}), draw(0, {1})));
  }

  // ----------------------------------------------------------------------------- subsets

  void splitValidationIsSeededAndDisjoint() {
    ImageSet set;
    set.images = torch::arange(50, torch::kUInt8).reshape({50, 1, 1, 1});
    set.labels = torch::arange(50, torch::kLong) % 10;
    const auto [train, val] = splitValidation(set, 12, 3);
    QCOMPARE(train.size(), int64_t{38});
    QCOMPARE(val.size(), int64_t{12});
    const auto ti = train.images.flatten().to(torch::kLong), vi = val.images.flatten().to(torch::kLong);
    QVERIFY(torch::equal(train.labels, ti % 10));
    QVERIFY(torch::equal(val.labels, vi % 10));
    QVERIFY(torch::equal(std::get<0>(torch::cat({ti, vi}).sort()), torch::arange(50, torch::kLong)));
    QVERIFY(!torch::equal(vi, torch::arange(38, 50, torch::kLong)));  // not simply the tail

    const auto again = splitValidation(set, 12, 3);
    QVERIFY(torch::equal(again.second.images, val.images));
    const auto other = splitValidation(set, 12, 4);
    QVERIFY(!torch::equal(other.second.images, val.images));

    const auto none = splitValidation(set, 0, 3);
    QCOMPARE(none.first.size(), int64_t{50});
    QCOMPARE(none.second.size(), int64_t{0});
    VERIFY_DATA_ERROR([&] { splitValidation(set, -1, 3); }, "negative");
    VERIFY_DATA_ERROR([&] { splitValidation(set, 50, 3); }, "no training image");
  }

  void takeFirstTakesThePrefix() {
    ImageSet set;
    set.images = torch::arange(10, torch::kUInt8).reshape({10, 1, 1, 1});
    set.labels = torch::arange(10, torch::kLong);
    QVERIFY(torch::equal(takeFirst(set, 3).labels, torch::arange(3, torch::kLong)));
    QCOMPARE(takeFirst(set, 3).images.size(0), int64_t{3});
    QCOMPARE(takeFirst(set, 0).size(), int64_t{10});
    QCOMPARE(takeFirst(set, -1).size(), int64_t{10});
    QCOMPARE(takeFirst(set, 100).size(), int64_t{10});
  }

  // --------------------------------------------------------------------------- real data

  void realFashionMnist() {
    if (!std::filesystem::is_directory(kDefaultFashionMnistDir))
      QSKIP("no /usr/share/datasets/fashion-mnist (Debian package dataset-fashion-mnist)");
    QElapsedTimer timer;
    timer.start();
    const auto d = loadDataset({});
    qInfo("loaded Fashion-MNIST in %lld ms", static_cast<long long>(timer.elapsed()));
    QVERIFY(d.train.images.sizes() == torch::IntArrayRef({60000, 1, 28, 28}));
    QVERIFY(d.test.images.sizes() == torch::IntArrayRef({10000, 1, 28, 28}));
    QCOMPARE(d.train.images.scalar_type(), torch::kUInt8);
    QCOMPARE(d.train.labels.size(0), int64_t{60000});
    QCOMPARE(d.test.labels.size(0), int64_t{10000});
    QVERIFY(d.train.labels.min().item<int64_t>() == 0 && d.train.labels.max().item<int64_t>() == 9);
    QVERIFY(d.test.labels.min().item<int64_t>() == 0 && d.test.labels.max().item<int64_t>() == 9);
    // Balanced: 6000 training images per class.
    QVERIFY(torch::equal(torch::bincount(d.train.labels), torch::full({10}, 6000, torch::kLong)));
    QCOMPARE(d.info.train_count, int64_t{60000});
    QCOMPARE(d.info.channels, 1);
    QCOMPARE(d.info.height, 28);
    QCOMPARE(d.info.width, 28);
    const auto norm = computeNormalization(d.train.images);
    qInfo("Fashion-MNIST train mean %.4f std %.4f (%lld ms total)", norm.mean[0], norm.std[0],
          static_cast<long long>(timer.elapsed()));
    QVERIFY(std::abs(norm.mean[0] - 0.2860) < 1e-3);
    QVERIFY(std::abs(norm.std[0] - 0.3530) < 1e-3);
  }
};

QTEST_GUILESS_MAIN(TestData)
#include "test_data.moc"
