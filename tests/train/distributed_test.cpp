// Data-parallel pieces in one process: two ranks as two threads, each with its own
// ProcessGroup on a loopback TCPStore. SyncBatchNorm and DataParallel against one
// BatchNorm or one model on the whole batch; the DistributedSampler shards by hand.
#include <metalhead/data/idx.h>
#include <metalhead/data/loader.h>
#include <metalhead/distributed.h>

#include <flux/flux.h>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <atomic>
#include <functional>
#include <set>
#include <thread>

namespace mt = metalhead::train;
using torch::Tensor;

namespace {

// A port per group, so that tests (and their shards) do not meet on one.
int next_port() {
  static std::atomic<int> port{31000 + static_cast<int>(::getpid() % 2000) * 4};
  return port++;
}

// Runs body(group) on `world` threads, one rank each; rethrows the first failure.
void on_ranks(int world, const std::function<void(std::shared_ptr<mt::ProcessGroup>)>& body) {
  const int port = next_port();
  std::vector<std::thread> threads;
  std::vector<std::exception_ptr> errors(static_cast<size_t>(world));
  for (int r = 0; r < world; ++r) {
    threads.emplace_back([&, r] {
      try {
        auto g = std::make_shared<mt::ProcessGroup>(
            mt::DistributedOptions{.rank = r, .world_size = world, .master_port = port, .timeout = std::chrono::seconds(30)});
        body(g);
        g->barrier();  // rank 0 serves the store: it stays until all are done
      } catch (...) {
        errors[static_cast<size_t>(r)] = std::current_exception();
      }
    });
  }
  for (auto& t : threads) t.join();
  for (auto& e : errors) {
    if (e) std::rethrow_exception(e);
  }
}

double relative_error(const Tensor& a, const Tensor& b) {
  return (a - b).abs().max().item<double>() / std::max(b.abs().max().item<double>(), 1e-30);
}

}  // namespace

TEST(DistributedSampler, ShardsAreDisjointPaddedAndDeterministic) {
  const int64_t n = 10;
  metalhead::data::LabelledImages data{torch::arange(n, torch::kLong).view({n, 1, 1, 1}).to(torch::kByte),
                                       torch::arange(n, torch::kLong), {"a"}};
  auto labels_of = [&](int64_t rank, int64_t world, bool pad) {
    metalhead::data::DataLoader l(data, {.batch_size = 3, .shuffle = true, .seed = 5, .workers = 1, .rank = rank, .world_size = world,
                                         .pad_shards = pad});
    l.start_epoch(2);
    std::vector<int64_t> out;
    while (auto b = l.next()) {
      for (int64_t i = 0; i < b->labels.size(0); ++i) out.push_back(b->labels[i].item<int64_t>());
    }
    return out;
  };
  const auto whole = labels_of(0, 1, true);
  ASSERT_EQ(whole.size(), 10u);
  // Padded (training): ceil(10 / 3) = 4 each; rank r takes positions r, r + 3, ... of the
  // epoch's order, the order wrapped from its start for the two missing places.
  std::vector<int64_t> padded;
  for (int64_t r = 0; r < 3; ++r) {
    const auto s = labels_of(r, 3, true);
    ASSERT_EQ(s.size(), 4u) << "rank " << r;
    for (size_t i = 0; i < s.size(); ++i) EXPECT_EQ(s[i], whole[(static_cast<size_t>(r) + 3 * i) % 10]);
    EXPECT_EQ(s, labels_of(r, 3, true));  // the same again
  }
  // Unpadded (evaluation): 4, 3 and 3, every sample once.
  std::multiset<int64_t> seen;
  for (int64_t r = 0; r < 3; ++r) {
    const auto s = labels_of(r, 3, false);
    EXPECT_EQ(s.size(), r == 0 ? 4u : 3u);
    seen.insert(s.begin(), s.end());
  }
  EXPECT_EQ(seen, std::multiset<int64_t>(whole.begin(), whole.end()));
  EXPECT_THROW(metalhead::data::DataLoader(data, {.rank = 3, .world_size = 3}), std::invalid_argument);
}

TEST(SyncBatchNorm, TwoHalvesEqualOneBatchNormOnTheWhole) {
  torch::manual_seed(0);
  const Tensor x = torch::randn({8, 3, 5, 4}, torch::kDouble) * 2 + 1;
  const Tensor w = torch::randn({8, 3, 5, 4}, torch::kDouble);  // the loss: sum(w · y)
  flux::BatchNorm whole(3);
  whole->to(torch::kDouble);
  {
    torch::NoGradGuard g;
    whole->weight.uniform_(0.5, 1.5);
    whole->bias.uniform_(-1, 1);
  }
  flux::trainmode(whole);
  const Tensor xw = x.clone().requires_grad_();
  const Tensor yw = whole(xw);
  (yw * w).sum().backward();

  std::vector<Tensor> y(2), dx(2), dweight(2), dbias(2), mean(2), var(2);
  on_ranks(2, [&](std::shared_ptr<mt::ProcessGroup> g) {
    const int64_t r = g->rank();
    flux::BatchNorm half(3);
    half->to(torch::kDouble);
    {
      torch::NoGradGuard ng;
      half->weight.copy_(whole->weight);
      half->bias.copy_(whole->bias);
    }
    flux::trainmode(half);
    metalhead::Model m("Half", flux::Chain(half), flux::Chain(), 3);
    EXPECT_EQ(mt::convert_sync_batchnorm(m, g), 1);
    const Tensor xi = x.narrow(0, 4 * r, 4).clone().requires_grad_();
    const Tensor yi = half(xi);
    (yi * w.narrow(0, 4 * r, 4)).sum().backward();
    y[r] = yi.detach();
    dx[r] = xi.grad();
    dweight[r] = half->weight.grad();
    dbias[r] = half->bias.grad();
    mean[r] = half->running_mean.clone();
    var[r] = half->running_var.clone();
  });
  EXPECT_LT(relative_error(torch::cat(y), yw.detach()), 1e-12);
  EXPECT_LT(relative_error(torch::cat(dx), xw.grad()), 1e-12);
  // The affine gradients are each rank's share: their sum is the whole batch's.
  EXPECT_LT(relative_error(dweight[0] + dweight[1], whole->weight.grad()), 1e-12);
  EXPECT_LT(relative_error(dbias[0] + dbias[1], whole->bias.grad()), 1e-12);
  for (int r = 0; r < 2; ++r) {
    EXPECT_LT(relative_error(mean[r], whole->running_mean), 1e-12) << "rank " << r;
    EXPECT_LT(relative_error(var[r], whole->running_var), 1e-12) << "rank " << r;
  }
}

TEST(DataParallel, AveragedGradientsEqualTheWholeBatchsAndParametersStartAsRankZeros) {
  torch::manual_seed(1);
  const Tensor x = torch::randn({6, 2, 6, 6});
  const Tensor target = torch::randn({6, 4});
  auto build = [] {
    return metalhead::Model("Small",
                            flux::Chain(flux::Conv({3, 3}, {2, 5}, flux::relu, {.pad = 1}), flux::GlobalMeanPool(),
                                        flux::flatten),
                            flux::Chain(flux::Dense({5, 4})), 2);
  };
  torch::manual_seed(2);
  metalhead::Model reference = build();
  std::vector<Tensor> expected;
  torch::mse_loss(reference(x), target).backward();
  for (const auto& p : reference->parameters()) expected.push_back(p.grad().clone());

  std::vector<std::vector<Tensor>> grads(2);
  std::vector<size_t> buckets(2);
  // Built here: the random generator is one for all threads. Rank 1's model starts
  // elsewhere; the broadcast brings rank 0's.
  torch::manual_seed(2);
  std::vector<metalhead::Model> models{build()};
  torch::manual_seed(12);
  models.push_back(build());
  on_ranks(2, [&](std::shared_ptr<mt::ProcessGroup> g) {
    const int64_t r = g->rank();
    metalhead::Model m = models[r];
    // Tiny buckets: the gradients travel in several, launched during backward.
    mt::DataParallel ddp(m, g, {.bucket_mb = 1e-4, .first_bucket_mb = 1e-4});
    buckets[r] = ddp.buckets().size();
    for (int step = 0; step < 2; ++step) {  // the second step reuses the buckets
      for (auto& p : m->parameters()) p.mutable_grad() = Tensor();
      torch::mse_loss(ddp(x.narrow(0, 3 * r, 3)), target.narrow(0, 3 * r, 3)).backward();
    }
    for (const auto& p : m->parameters()) grads[r].push_back(p.grad().clone());
  });
  EXPECT_GE(buckets[0], 3u);
  for (size_t i = 0; i < expected.size(); ++i) {
    for (int r = 0; r < 2; ++r) {
      EXPECT_LT(relative_error(grads[r][i], expected[i]), 1e-5) << "parameter " << i << " rank " << r;
    }
  }
}

TEST(ProcessGroup, RefusesBadRanksAndReportsDifferences) {
  EXPECT_THROW(mt::ProcessGroup({.rank = 2, .world_size = 2}), std::invalid_argument);
  EXPECT_THROW(mt::ProcessGroup({.rank = 0, .world_size = 1, .backend = "mpi"}), std::invalid_argument);
  std::vector<std::string> messages(2);
  on_ranks(2, [&](std::shared_ptr<mt::ProcessGroup> g) {
    try {
      g->check_same("options", g->rank() == 0 ? "lr 0.1\nepochs 3\n" : "lr 0.1\nepochs 4\n");
    } catch (const std::runtime_error& e) {
      messages[g->rank()] = e.what();
    }
  });
  for (const auto& m : messages) {
    EXPECT_NE(m.find("rank 1's options differ from rank 0's"), std::string::npos) << m;
    EXPECT_NE(m.find("epochs 4"), std::string::npos) << m;
  }
}
