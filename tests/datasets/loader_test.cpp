// DataLoader: every sample once per epoch, order and augmentation reproducible from
// (seed, epoch) whatever the threads do, crops that are windows of the padded image.
#include <gtest/gtest.h>
#include <metalhead/data/loader.h>

namespace md = metalhead::data;

namespace {

md::LabelledImages toy(int64_t n = 37) {
  md::LabelledImages d;
  d.images = at::arange(n * 2 * 5 * 5, at::kLong).remainder(251).to(at::kByte).reshape({n, 2, 5, 5});
  d.labels = at::arange(n, at::kLong);
  return d;
}

std::vector<md::Batch> epoch(md::DataLoader& l, int64_t e) {
  l.start_epoch(e);
  std::vector<md::Batch> out;
  while (auto b = l.next()) out.push_back(*b);
  return out;
}

at::Tensor labels_of(const std::vector<md::Batch>& bs) {
  std::vector<at::Tensor> ls;
  for (const auto& b : bs) ls.push_back(b.labels);
  return at::cat(ls);
}

}  // namespace

TEST(DataLoader, EverySampleOncePerEpochInReproducibleOrder) {
  md::DataLoader a(toy(), {.batch_size = 8, .shuffle = true, .seed = 3, .workers = 3});
  md::DataLoader b(toy(), {.batch_size = 8, .shuffle = true, .seed = 3, .workers = 1});
  auto e1 = epoch(a, 1);
  EXPECT_EQ(e1.size(), 5u);  // 37 = 4 × 8 + 5
  EXPECT_EQ(e1.back().labels.size(0), 5);
  EXPECT_TRUE(at::equal(std::get<0>(at::sort(labels_of(e1))), at::arange(37, at::kLong)));
  EXPECT_TRUE(at::equal(labels_of(e1), labels_of(epoch(b, 1))));   // threads do not matter
  EXPECT_FALSE(at::equal(labels_of(e1), labels_of(epoch(a, 2))));  // epochs differ
  EXPECT_TRUE(at::equal(labels_of(e1), labels_of(epoch(a, 1))));   // and repeat
  // Abandoning an epoch half-way and starting it again gives it from the start.
  a.start_epoch(1);
  a.next();
  EXPECT_TRUE(at::equal(labels_of(e1), labels_of(epoch(a, 1))));
}

TEST(DataLoader, WithoutAugmentationImagesAreScaledPixels) {
  auto d = toy();
  md::DataLoader l(d, {.batch_size = 10, .augment = {.mean = {0.5}, .std = {0.25}}, .train = true});
  auto bs = epoch(l, 0);
  EXPECT_TRUE(at::allclose(bs[0].images, (d.images.slice(0, 0, 10).to(at::kFloat) / 255 - 0.5) / 0.25));
  md::DataLoader drop(d, {.batch_size = 10, .drop_last = true});
  EXPECT_EQ(epoch(drop, 0).size(), 3u);
}

TEST(DataLoader, CropsAreWindowsOfThePaddedImageAndReproducible) {
  auto d = toy(16);
  md::LoaderOptions o{.batch_size = 16, .seed = 5, .augment = {.pad_crop = 2, .hflip = true}, .train = true};
  md::DataLoader l(d, o), again(d, o);
  const auto x = epoch(l, 4)[0].images;
  EXPECT_TRUE(at::equal(x, epoch(again, 4)[0].images));
  const auto padded = at::constant_pad_nd(d.images.to(at::kFloat) / 255, {2, 2, 2, 2}, 0);
  int moved = 0;
  for (int64_t i = 0; i < 16; ++i) {
    bool found = false;
    for (int64_t dy = 0; dy <= 4 && !found; ++dy) {
      for (int64_t dx = 0; dx <= 4 && !found; ++dx) {
        auto win = padded[i].narrow(1, dy, 5).narrow(2, dx, 5);
        found = at::equal(x[i], win) || at::equal(x[i], win.flip({2}));
        if (found && (dy != 2 || dx != 2)) ++moved;
      }
    }
    EXPECT_TRUE(found) << "sample " << i;
  }
  EXPECT_GT(moved, 8);  // most crops move (a fixed crop would pass the window test too)
  // Evaluation batches are not augmented.
  md::DataLoader test(d, {.batch_size = 16, .augment = {.pad_crop = 2, .hflip = true}});
  EXPECT_TRUE(at::equal(epoch(test, 0)[0].images, d.images.to(at::kFloat) / 255));
}

TEST(DataLoader, RefusesBadOptions) {
  EXPECT_THROW(md::DataLoader(toy(), {.augment = {.mean = {0.1, 0.2, 0.3}, .std = {1}}}), std::invalid_argument);
  EXPECT_THROW(md::DataLoader(toy(), {.batch_size = 0}), std::invalid_argument);
  md::LabelledImages bad = toy();
  bad.labels = bad.labels.slice(0, 0, 3);
  EXPECT_THROW(md::DataLoader(bad, {}), std::invalid_argument);
}
