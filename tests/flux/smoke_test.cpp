#include <flux/chain.h>
#include <flux/conv.h>
#include <flux/printing.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

TEST(Smoke, ChainOfDense) {
  flux::Chain m(flux::Dense({5, 3}, flux::relu), flux::Dense({3, 2}));
  EXPECT_EQ(m(torch::rand({4, 5})).sizes(), (std::vector<int64_t>{4, 2}));
  std::ostringstream os;
  os << m;
  std::cout << os.str() << "\n";
}
