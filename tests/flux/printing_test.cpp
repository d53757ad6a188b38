// Flux's printing: one-line forms, counts, container layout and footers.
#include "testing.h"

using namespace flux;

TEST(Printing, SingleLayersPadToColumnTwenty) {
  EXPECT_EQ(printed(Dense({5, 2})), "Dense(5 => 2)       # 12 parameters");
  EXPECT_EQ(printed(Dense({5, 2}, flux::tanh, {.bias = false})), "Dense(5 => 2, tanh; bias=false)  # 10 parameters");
  EXPECT_EQ(printed(Dropout(0.5)), "Dropout(0.5)");
  EXPECT_EQ(printed(MaxPool({2, 2})), "MaxPool((2, 2))");
  EXPECT_EQ(printed(Dense(torch::zeros({2, 3}))), "Dense(3 => 2)       # 8 parameters  (all zero)");
}

TEST(Printing, ChainsAlignCountsAtColumnForty) {
  Chain m(Dense({784, 2048}, relu), Dense({2048, 10}));
  const int64_t params = 784 * 2048 + 2048 + 2048 * 10 + 10;
  EXPECT_EQ(params, 1628170);
  EXPECT_EQ(printed(m),
            "Chain(\n"
            "  Dense(784 => 2048, relu),             # 1_607_680 parameters\n"
            "  Dense(2048 => 10),                    # 20_490 parameters\n"
            ")                   # Total: 4 arrays, 1_628_170 parameters, 6.211 MiB.");  // 4·params bytes
}

TEST(Printing, NestedNamedContainersAndNonTrainableState) {
  Chain inner(NamedLayers{{"c", Conv({3, 3}, {1, 5}, identity, {.stride = 2, .pad = 1})},
                          {"p", MeanPool({3, 3})},
                          {"b", BatchNorm(5)},
                          {"f", Layer(flatten)}});
  Chain m(inner, Dense({80, 20}, relu), SkipConnection(Dense({20, 20}, relu), plus), Dense({20, 10}));
  // 10 trainable arrays: 50 + 10 + 1620 + 420 + 210 = 2310 parameters; 2 non-trainable of 5 each.
  const int64_t bytes = (2310 + 10) * 4;
  EXPECT_EQ(printed(m),
            "Chain(\n"
            "  Chain(\n"
            "    c = Conv((3, 3), 1 => 5, pad=1, stride=2),  # 50 parameters\n"
            "    p = MeanPool((3, 3)),\n"
            "    b = BatchNorm(5),                   # 10 parameters, plus 10\n"
            "    f = Flux.flatten,\n"
            "  ),\n"
            "  Dense(80 => 20, relu),                # 1_620 parameters\n"
            "  SkipConnection(\n"
            "    Dense(20 => 20, relu),              # 420 parameters\n"
            "    +,\n"
            "  ),\n"
            "  Dense(20 => 10),                      # 210 parameters\n"
            ")         # Total: 10 trainable arrays, 2_310 parameters,\n"
            "          # plus 2 non-trainable, 10 parameters, summarysize " +
                format_bytes(bytes) + ".");
  EXPECT_EQ(format_bytes(bytes), "9.062 KiB");
  EXPECT_EQ(shape(m(torch::rand({2, 1, 28, 28}))), (Shape{2, 10}));  // 28 -> 14 -> 4: 5·4·4 = 80
}

TEST(Printing, RecurShowsItsStateAsNonTrainable) {
  Recur r = RNN({3, 5});
  EXPECT_EQ(parameter_count(r), 50);  // 15 + 25 + 5 + 5
  EXPECT_EQ(printed(r),
            "Recur(\n"
            "  RNNCell(3 => 5, tanh),                # 50 parameters\n"
            ")         # Total: 4 trainable arrays, 50 parameters,\n"
            "          # plus 1 non-trainable, 5 parameters, summarysize 220 bytes.");
}

TEST(Printing, NumbersAndBytes) {
  EXPECT_EQ(format_count(999), "999");
  EXPECT_EQ(format_count(2310), "2_310");
  EXPECT_EQ(format_count(1607680), "1_607_680");
  EXPECT_EQ(format_bytes(1023), "1023 bytes");
  EXPECT_EQ(format_bytes(1024), "1.000 KiB");
}

TEST(ParameterCount, MatchesFluxsNumbers) {
  EXPECT_EQ(parameter_count(Dense({5, 2})), 12);
  EXPECT_EQ(parameter_count(Conv({5, 5}, {3, 7}, relu, {.bias = false})), 525);
  EXPECT_EQ(parameter_count(DepthwiseConv({5, 5}, {3, 6}, relu, {.bias = false})), 150);
  EXPECT_EQ(parameter_count(BatchNorm(2)), 4);
  EXPECT_EQ(parameter_count(RNN({3, 5})), 50);
  EXPECT_EQ(parameter_count(Bilinear(InOut{5, 7})), 182);
  EXPECT_EQ(parameter_count(LSTM({3, 5})), 190);
  EXPECT_EQ(parameter_count(GRU({3, 5})), 140);
  EXPECT_EQ(parameter_count(Embedding({26, 4})), 104);
  EXPECT_EQ(parameter_count(Scale(std::vector<int64_t>{1, 4}, identity, {.bias = false})), 4);
  Dense shared({3, 3});
  EXPECT_EQ(parameter_count(Chain(shared, shared)), 12);  // tied arrays count once
}

TEST(Printing, ParallelWithUnicodeNamesAlignsByCharacters) {
  Parallel p(plus, NamedLayers{{"α", Dense({10, 2}, flux::tanh)}, {"β", Dense({5, 2})}});
  // 4 float32 arrays: 22 + 12 = 34 parameters, 34 · 4 bytes.
  EXPECT_EQ(printed(p),
            "Parallel(\n"
            "  +,\n"
            "  α = Dense(10 => 2, tanh),             # 22 parameters\n"
            "  β = Dense(5 => 2),                    # 12 parameters\n"
            ")                   # Total: 4 arrays, 34 parameters, " + std::to_string(34 * 4) + " bytes.");
  EXPECT_EQ(p->repr(), "Parallel(+, α = Dense(10 => 2, tanh), β = Dense(5 => 2))");
}

TEST(Printing, ParallelPrintsTheConnectionFirst) {
  Parallel p(plus, Dense({10, 2}), Dense({5, 2}));
  EXPECT_EQ(printed(p),
            "Parallel(\n"
            "  +,\n"
            "  Dense(10 => 2),                       # 22 parameters\n"
            "  Dense(5 => 2),                        # 12 parameters\n"
            ")                   # Total: 4 arrays, 34 parameters, 136 bytes.");  // 34 float32s
  EXPECT_EQ(p->repr(), "Parallel(+, Dense(10 => 2), Dense(5 => 2))");
}

TEST(Printing, NoFooterWithAtMostTwoArrays) {
  EXPECT_EQ(printed(Chain(Dense({2, 3}))),
            "Chain(\n"
            "  Dense(2 => 3),                        # 9 parameters\n"
            ")");
  EXPECT_EQ(Chain(Dense({2, 3}))->repr(), "Chain(Dense(2 => 3))");
  EXPECT_EQ(Chain(NamedLayers{{"lay", Dense({2, 3})}})->repr(), "Chain(lay = Dense(2 => 3))");
}

TEST(Printing, ContainerOfFunctionsPrintsOnOneLine) {
  EXPECT_EQ(printed(Chain(relu, softmax)), "Chain(relu, softmax)");
  EXPECT_EQ(printed(Chain(flatten)), "Chain(Flux.flatten)");
}

TEST(Printing, LeavesWithoutParametersHaveNoComment) {
  Chain m(Dense({4, 4}), Dropout(0.5), BatchNorm(4, identity, {.affine = false}), MeanPool({2}), flux::tanh);
  // 2 trainable arrays (no footer); the BatchNorm's running stats do not add a comment.
  EXPECT_EQ(printed(m),
            "Chain(\n"
            "  Dense(4 => 4),                        # 20 parameters\n"
            "  Dropout(0.5),\n"
            "  BatchNorm(4, affine=false),\n"
            "  MeanPool((2,)),\n"
            "  tanh,\n"
            ")");
  EXPECT_EQ(printed(GlobalMaxPool()), "GlobalMaxPool()");
  EXPECT_EQ(printed(Upsample(2.0)), "Upsample(:nearest, scale = 2)");
}

TEST(Printing, ForcedModesAppearInTheLayer) {
  EXPECT_EQ(printed(Dropout(0.4, {.active = true})), "Dropout(0.4, active=true)");
  EXPECT_EQ(printed(Dropout(0.5, {.dims = {1}})), "Dropout(0.5, dims=1)");
  EXPECT_EQ(printed(BatchNorm(3, identity, {.active = false})), "BatchNorm(3, active=false)  # 6 parameters, plus 6 non-trainable");
}

TEST(Printing, TwoLineFooterWithNonTrainableState) {
  Chain m(Dense({3, 4}), BatchNorm(4, relu));
  // Trainable: 12 + 4 + 4 + 4 = 24 in 4 arrays; non-trainable: 2 arrays of 4. All float32.
  const int64_t bytes = (24 + 8) * 4;
  EXPECT_EQ(printed(m),
            "Chain(\n"
            "  Dense(3 => 4),                        # 16 parameters\n"
            "  BatchNorm(4, relu),                   # 8 parameters, plus 8\n"
            ")         # Total: 4 trainable arrays, 24 parameters,\n"
            "          # plus 2 non-trainable, 8 parameters, summarysize " + std::to_string(bytes) + " bytes.");
}

TEST(Printing, DoublePrecisionCountsEightBytesPerParameter) {
  Chain m(Dense({3, 4}), Dense({4, 2}));
  m->to(torch::kFloat64);
  const int64_t params = 16 + 10;
  EXPECT_EQ(printed(m),
            "Chain(\n"
            "  Dense(3 => 4),                        # 16 parameters\n"
            "  Dense(4 => 2),                        # 10 parameters\n"
            ")                   # Total: 4 arrays, 26 parameters, " + std::to_string(params * 8) + " bytes.");
}

TEST(Printing, SuffixMarksNaNAndInf) {
  EXPECT_EQ(printed(Dense(torch::full({2, 2}, std::numeric_limits<double>::quiet_NaN()))), "Dense(2 => 2)       # 6 parameters  (some NaN)");
  EXPECT_EQ(printed(Dense(torch::full({2, 2}, std::numeric_limits<double>::infinity()))), "Dense(2 => 2)       # 6 parameters  (some Inf)");
}

TEST(Printing, LongLinesKeepTwoSpacesBeforeTheComment) {
  Chain m(Conv({3, 3}, {16, 32}, relu, {.stride = 2, .pad = 1, .dilation = 2, .bias = false}), Dense({4, 4}));
  EXPECT_EQ(printed(m),
            "Chain(\n"
            "  Conv((3, 3), 16 => 32, relu, pad=1, stride=2, dilation=2, bias=false),  # 4_608 parameters\n"
            "  Dense(4 => 4),                        # 20 parameters\n"
            ")                   # Total: 3 arrays, 4_628 parameters, " + format_bytes(4628 * 4) + ".");
  EXPECT_EQ(format_bytes(4628 * 4), "18.078 KiB");
}

TEST(ParameterCount, LayersWithoutParametersCountZero) {
  EXPECT_EQ(parameter_count(MaxPool({2, 2})), 0);
  EXPECT_EQ(parameter_count(Dropout(0.5)), 0);
  EXPECT_EQ(parameter_count(Chain(relu, flatten)), 0);
  EXPECT_EQ(parameter_count(BatchNorm(3, identity, {.affine = false})), 0);
}
