// Port of Flux.jl v0.14.25 test/layers/show.jl (the 2-argument and the REPL printing).
// Julia parses the REPL form as a call (its comments are ignored): here the text before
// each `#` is checked to be the one-line form. Printing inside Julia vectors, matrices and
// tuples has no counterpart (see PORTED.md).
#include "testing.h"

#include <sstream>

using namespace flux;

namespace {

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// The printed text with every `# ...` comment and the spaces before it removed, lines joined.
std::string without_comments(const std::string& s) {
  std::istringstream in(s);
  std::string line, out;
  while (std::getline(in, line)) {
    auto hash = line.find('#');
    if (hash != std::string::npos) line = line.substr(0, hash);
    while (!line.empty() && line.back() == ' ') line.pop_back();
    size_t first = line.find_first_not_of(' ');
    out += first == std::string::npos ? "" : line.substr(first);
  }
  return out;
}

// A layer with no fields at all (Flux issue 2208).
class NoFieldsImpl : public LayerImpl {
 public:
  Tensor forward(const Tensor& x) override { return x; }
  void pretty_print(std::ostream& os) const override { os << "NoFields()"; }
};

}  // namespace

// Flux test/layers/show.jl: "layer printing"
TEST(FluxShow, LayerPrinting) {
  EXPECT_EQ(Dense({2, 3})->repr(), "Dense(2 => 3)");
  EXPECT_EQ(Chain(Dense({2, 3}))->repr(), "Chain(Dense(2 => 3))");
  EXPECT_EQ(Chain(NamedLayers{{"lay", Dense({2, 3})}})->repr(), "Chain(lay = Dense(2 => 3))");
}

// Flux test/layers/show.jl: "nested model printing"
TEST(FluxShow, NestedModelPrinting) {
  // Dense -- has parameter count
  const std::string toplevel_dense = printed(Dense({2, 3}));
  EXPECT_TRUE(contains(toplevel_dense, "Dense(2 => 3)")) << toplevel_dense;
  EXPECT_TRUE(contains(toplevel_dense, "# 9 parameters")) << toplevel_dense;
  EXPECT_EQ(without_comments(toplevel_dense), "Dense(2 => 3)");  // the comment is ignored

  // Chain -- gets split over lines at top level
  const std::string toplevel_chain = printed(Chain(Dense({2, 3})));
  EXPECT_TRUE(contains(toplevel_chain, "Chain(\n  Dense(2 => 3)")) << toplevel_chain;
  EXPECT_TRUE(contains(toplevel_chain, "# 9 parameters")) << toplevel_chain;
  EXPECT_FALSE(contains(toplevel_chain, "# Total:")) << toplevel_chain;

  // ... and only long enough chains get a total at the end:
  Chain longchain(Dense({2, 3}), Dense({3, 4}), Dense({4, 5}), softmax);
  const std::string toplevel_longchain = printed(longchain);
  EXPECT_TRUE(contains(toplevel_longchain, "Chain(\n  Dense(2 => 3)")) << toplevel_longchain;
  EXPECT_TRUE(contains(toplevel_longchain, "# 9 parameters")) << toplevel_longchain;
  EXPECT_TRUE(contains(toplevel_longchain, "# Total: 6 arrays, 50 parameters")) << toplevel_longchain;
  // Meta.parse(...) is a call of :Chain once the comments are ignored.
  const std::string code = without_comments(toplevel_longchain);
  EXPECT_EQ(code.rfind("Chain(", 0), 0u) << code;
  EXPECT_EQ(code, "Chain(Dense(2 => 3),Dense(3 => 4),Dense(4 => 5),softmax,)");

  // A Dense of a transposed (adjoint) integer matrix prints as any Dense.
  Tensor m = torch::tensor({{1, 2}, {3, 4}}).t();  // [1 2; 3 4]'
  const std::string adjoint_chain = printed(Chain(std::vector<Layer>{Dense(m)}));
  EXPECT_TRUE(contains(adjoint_chain, "Dense(2 => 2)")) << adjoint_chain;
  EXPECT_TRUE(contains(adjoint_chain, "Chain(")) << adjoint_chain;
}

// Flux test/layers/show.jl: "show with no fields" (issue 2208)
TEST(FluxShow, ShowWithNoFields) {
  Chain c(Dense({1, 1}), Dense({1, 1}), Layer(std::make_shared<NoFieldsImpl>()));
  const std::string str = printed(c);
  EXPECT_TRUE(contains(str, "4 arrays, 4 parameters")) << str;
}

// spec (/tmp/api-spec.md): the new layers print like Flux.
TEST(FluxShow, NewLayersPrintLikeFlux) {
  EXPECT_EQ(PairwiseFusion(plus, Dense({2, 3}), Dense({3, 2}))->repr(), "PairwiseFusion(+, Dense(2 => 3), Dense(3 => 2))");
  EXPECT_EQ(printed(PairwiseFusion(plus, Dense({2, 3}), Dense({3, 2}))),
            "PairwiseFusion(\n"
            "  +,\n"
            "  Dense(2 => 3),                        # 9 parameters\n"
            "  Dense(3 => 2),                        # 8 parameters\n"
            ")                   # Total: 4 arrays, 17 parameters, " + format_bytes(17 * 4) + ".");
  EXPECT_EQ(printed(EmbeddingBag({10, 3})), "EmbeddingBag(10 => 3)  # 30 parameters");
  EXPECT_EQ(Dense({2, 2}, rrelu)->repr(), "Dense(2 => 2, rrelu)");
  EXPECT_EQ(rrelu.name(), "rrelu");
  EXPECT_EQ(lisht.name(), "lisht");
  EXPECT_EQ(logcosh.name(), "logcosh");
  EXPECT_EQ(trelu.name(), "trelu");
  EXPECT_EQ(softshrink.name(), "softshrink");
}
