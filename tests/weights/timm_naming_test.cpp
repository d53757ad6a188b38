// timm_naming_test.cpp — our models' tensors under timm's names (Naming::timm) against
// timm's own state_dict keys (tests/data/weights/timm_keys.json, from scripts/timm-keys).
#include <flux/init.h>
#include <gtest/gtest.h>
#include <metalhead/metalhead.h>
#include <metalhead/weights.h>

#include <nlohmann/json.hpp>

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

namespace fs = std::filesystem;
namespace mh = metalhead;

namespace {

const nlohmann::json& timm_keys() {
  static const nlohmann::json j = [] {
    std::ifstream in(fs::path(METALHEAD_TEST_DATA) / "weights" / "timm_keys.json");
    std::stringstream ss;
    ss << in.rdbuf();
    return nlohmann::json::parse(ss.str());
  }();
  return j;
}

std::vector<int64_t> squeezed(std::vector<int64_t> s) {
  s.erase(std::remove(s.begin(), s.end(), 1), s.end());
  return s;
}

std::string shape(const std::vector<int64_t>& s) {
  std::ostringstream os;
  os << c10::IntArrayRef(s);
  return os.str();
}

fs::path temp_file(const std::string& name) {
  return fs::temp_directory_path() / ("metalhead_timm_" + std::to_string(::getpid()) + "_" + name);
}

}  // namespace

TEST(TimmNaming, KeysAndShapesMatchTimm) {
  const auto& models = timm_keys().at("models");
  ASSERT_GE(models.size(), 15u);
  for (const auto& [name, entry] : models.items()) {
    SCOPED_TRACE(name + " = timm " + entry.at("timm").get<std::string>());
    std::map<std::string, std::vector<int64_t>> want;
    for (const auto& k : entry.at("keys")) want.emplace(k.at(0).get<std::string>(), k.at(1).get<std::vector<int64_t>>());

    flux::SkipInit skip;
    const mh::Model model = mh::create_model(name);
    std::map<std::string, std::vector<int64_t>> got;
    for (const auto& [key, t] : mh::named_tensors(model, mh::Naming::timm)) {
      EXPECT_TRUE(got.emplace(key, t.sizes().vec()).second) << "named twice: " << key;
    }
    std::vector<std::string> missing, extra, misshaped;
    for (const auto& [key, s] : want) {
      auto it = got.find(key);
      if (it == got.end()) {
        missing.push_back(key);
      } else if (squeezed(it->second) != squeezed(s)) {
        misshaped.push_back(key + ": ours " + shape(it->second) + ", timm " + shape(s));
      }
    }
    for (const auto& [key, s] : got) {
      if (!want.count(key)) extra.push_back(key);
    }
    EXPECT_TRUE(missing.empty()) << missing.size() << " timm keys we lack, e.g. " << missing.front();
    EXPECT_TRUE(extra.empty()) << extra.size() << " names timm lacks, e.g. " << extra.front();
    EXPECT_TRUE(misshaped.empty()) << misshaped.size() << " shapes differ, e.g. " << misshaped.front();
  }
}

TEST(TimmNaming, FamiliesWithoutTimmNamesRefuse) {
  flux::SkipInit skip;
  const mh::Model model = mh::create_model("vgg11");
  EXPECT_THROW(mh::named_tensors(model, mh::Naming::timm), std::invalid_argument);
}

// Save in timm's names, load into a fresh model: recognised as timm's, the same tensors.
// ViT exercises the [1, T, D] position embedding, MobileNet v1 BatchNorm buffers,
// MNASNet-small squeeze-excitation (loaded naming timm explicitly: the automatic choice
// also tries torchvision's MNASNet names, which fail on timm-only MNASNets).
TEST(TimmNaming, SaveLoadRoundTrip) {
  for (const std::string name : {"vit_tiny_patch16_224", "mobilenetv1_100", "mnasnet_small"}) {
    SCOPED_TRACE(name);
    torch::manual_seed(0);
    const mh::Model source = mh::create_model(name);
    // Random running statistics, so that buffers are checked too.
    for (auto& b : source.ptr()->buffers()) {
      if (b.is_floating_point()) b.uniform_(0.5, 1.5);
    }
    const fs::path path = temp_file(name + ".safetensors");
    mh::save_weights(source, path, {.naming = mh::Naming::timm});

    flux::SkipInit skip;
    mh::Model target = mh::create_model(name);
    const mh::LoadReport report =
        mh::load_weights(target, path, {.naming = name == "mnasnet_small" ? mh::Naming::timm : mh::Naming::automatic});
    fs::remove(path);
    EXPECT_EQ(report.naming, mh::Naming::timm) << report.summary();
    const auto want = mh::named_tensors(source, mh::Naming::metalhead);
    const auto got = mh::named_tensors(target, mh::Naming::metalhead);
    ASSERT_EQ(report.loaded, want.size());
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < want.size(); ++i) {
      ASSERT_EQ(got[i].first, want[i].first);
      EXPECT_TRUE(torch::equal(got[i].second, want[i].second)) << want[i].first;
    }
    if (name == "vit_tiny_patch16_224") {
      const auto timm = mh::named_tensors(source, mh::Naming::timm);
      auto pos = std::find_if(timm.begin(), timm.end(), [](const auto& e) { return e.first == "pos_embed"; });
      ASSERT_NE(pos, timm.end());
      EXPECT_EQ(pos->second.sizes(), (std::vector<int64_t>{1, 197, 192}));
    }
  }
}
