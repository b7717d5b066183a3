#pragma once
// What the GUI tests share: a tiny search on synthetic data, and a grab of a widget as a person
// sees it (Qt Test, header-only).
#include <QtTest>

#include <algorithm>

#include "repnas/config.h"

namespace repnas::testing {

/// A search on the IDX files in `data_dir` (640 training images: 20 steps per epoch), one thread.
inline RunConfig tinySearchConfig(const QString& data_dir, int epochs, int search_epochs,
                                          int fixed_epochs, std::uint64_t seed) {
  RunConfig c;
  c.dataset = "idx";
  c.data_dir = data_dir.toStdString();
  c.epochs = epochs;
  c.warmup_epochs = 1;
  c.search_epochs = search_epochs;
  c.fixed_epochs = fixed_epochs;
  c.batch_size = 32;
  c.eval_batch_size = 64;
  c.threads = 1;
  c.lr = 0.05;
  c.arch_lr = 0.05;
  c.seed = seed;
  return c;
}

/// Saves a grab of `w` as REPNAS_TEST_OUTPUT_DIR/name.png, after layouts settled and the
/// throttled redraws ran.
inline void saveShot(QWidget& w, const QString& name) {
  QTest::qWait(150);
  QVERIFY(w.grab().save(QString(REPNAS_TEST_OUTPUT_DIR) + "/" + name + ".png"));
}

}  // namespace repnas::testing
