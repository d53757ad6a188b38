// metrics.cpp — a training run's metrics as CSV and as an SVG chart (no plotting library:
// two panels of polylines with axes are a few dozen lines of SVG).
#include <metalhead/train.h>

#include <metalhead/atomic_file.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

namespace metalhead::train {
namespace {

std::string number(double x, const char* format = "%.6g") {
  if (!std::isfinite(x)) return "";
  char buf[64];
  std::snprintf(buf, sizeof buf, format, x);
  return buf;
}

std::string escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

struct Series {
  std::string name, colour;
  std::vector<std::pair<double, double>> points;  // (epoch, value), finite values only
  bool dashed = false;
};

// "Nice" tick spacing: 1, 2 or 5 × 10^k, about `count` ticks over [lo, hi].
double tick_step(double lo, double hi, int count) {
  const double raw = (hi - lo) / count;
  const double p = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0}) if (m * p >= raw) return m * p;
  return 10 * p;
}

void panel(std::ostringstream& svg, double x0, double y0, double w, double h, const std::string& title,
           const std::vector<Series>& series, int64_t epochs, bool percent) {
  double lo = INFINITY, hi = -INFINITY;
  for (const auto& s : series) for (const auto& [x, y] : s.points) lo = std::min(lo, y), hi = std::max(hi, y);
  if (!std::isfinite(lo)) lo = 0, hi = 1;
  if (hi - lo < 1e-9) lo -= 0.5, hi += 0.5;
  const double pad = 0.05 * (hi - lo);
  lo -= pad, hi += pad;
  const double xmax = std::max<double>(1, static_cast<double>(epochs));
  auto px = [&](double e) { return x0 + (e / xmax) * w; };
  auto py = [&](double v) { return y0 + h - (v - lo) / (hi - lo) * h; };

  svg << "<text x=\"" << x0 + w / 2 << "\" y=\"" << y0 - 12 << "\" text-anchor=\"middle\" font-size=\"15\">"
      << escape(title) << "</text>\n";
  svg << "<rect x=\"" << x0 << "\" y=\"" << y0 << "\" width=\"" << w << "\" height=\"" << h
      << "\" fill=\"none\" stroke=\"#444\"/>\n";
  const double ys = tick_step(lo, hi, 5);
  for (double v = std::ceil(lo / ys) * ys; v <= hi; v += ys) {
    svg << "<line x1=\"" << x0 << "\" x2=\"" << x0 + w << "\" y1=\"" << py(v) << "\" y2=\"" << py(v)
        << "\" stroke=\"#ddd\"/>\n<text x=\"" << x0 - 6 << "\" y=\"" << py(v) + 4
        << "\" text-anchor=\"end\" font-size=\"11\">" << (percent ? number(100 * v, "%.4g") + "%" : number(v, "%.4g"))
        << "</text>\n";
  }
  const double xs = std::max(1.0, tick_step(0, xmax, 8));
  for (double e = 0; e <= xmax + 1e-9; e += xs) {
    svg << "<text x=\"" << px(e) << "\" y=\"" << y0 + h + 16 << "\" text-anchor=\"middle\" font-size=\"11\">"
        << number(e, "%.0f") << "</text>\n";
  }
  svg << "<text x=\"" << x0 + w / 2 << "\" y=\"" << y0 + h + 34 << "\" text-anchor=\"middle\" font-size=\"12\">epoch</text>\n";
  // The legend goes under the axis, where no curve can be.
  double legend_x = x0;
  const double legend_y = y0 + h + 54;
  for (const auto& s : series) {
    if (s.points.empty()) continue;
    svg << "<polyline fill=\"none\" stroke=\"" << s.colour << "\" stroke-width=\"2\""
        << (s.dashed ? " stroke-dasharray=\"6 4\"" : "") << " points=\"";
    for (const auto& [x, y] : s.points) svg << px(x) << "," << py(y) << " ";
    svg << "\"/>\n";
    for (const auto& [x, y] : s.points) {
      svg << "<circle cx=\"" << px(x) << "\" cy=\"" << py(y) << "\" r=\"3\" fill=\"" << s.colour << "\"/>\n";
    }
    svg << "<line x1=\"" << legend_x << "\" x2=\"" << legend_x + 24 << "\" y1=\"" << legend_y - 4 << "\" y2=\""
        << legend_y - 4 << "\" stroke=\"" << s.colour << "\" stroke-width=\"2\""
        << (s.dashed ? " stroke-dasharray=\"6 4\"" : "") << "/>\n<text x=\"" << legend_x + 30 << "\" y=\"" << legend_y
        << "\" font-size=\"12\">" << escape(s.name) << "</text>\n";
    legend_x += 90;
  }
}

}  // namespace

void write_metrics_csv(const std::filesystem::path& path, const std::vector<MetricsRow>& rows) {
  std::ostringstream csv;
  csv << "epoch,lr,train_loss,train_accuracy,test_loss,test_accuracy,images_per_second,seconds\n";
  for (const auto& r : rows) {
    csv << r.train.epoch << "," << number(r.train.lr) << "," << number(r.train.loss) << ","
        << number(r.train.accuracy) << "," << number(r.test_loss) << "," << number(r.test_accuracy) << ","
        << number(r.train.images_per_second, "%.1f") << "," << number(r.train.seconds, "%.2f") << "\n";
  }
  write_file_atomically(path, csv.str());
}

void write_metrics_svg(const std::filesystem::path& path, const std::vector<MetricsRow>& rows, const std::string& title) {
  Series train_loss{"train", "#1f77b4"}, test_loss{"test", "#d62728", {}, true};
  Series train_acc{"train", "#1f77b4"}, test_acc{"test", "#d62728", {}, true};
  int64_t epochs = 0;
  for (const auto& r : rows) {
    const double e = static_cast<double>(r.train.epoch);
    epochs = std::max(epochs, r.train.epoch);
    if (std::isfinite(r.train.loss)) train_loss.points.emplace_back(e, r.train.loss);
    if (std::isfinite(r.test_loss)) test_loss.points.emplace_back(e, r.test_loss);
    if (std::isfinite(r.train.accuracy)) train_acc.points.emplace_back(e, r.train.accuracy);
    if (std::isfinite(r.test_accuracy)) test_acc.points.emplace_back(e, r.test_accuracy);
  }
  std::ostringstream svg;
  svg << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"960\" height=\"440\" viewBox=\"0 0 960 440\" "
         "font-family=\"sans-serif\">\n<rect width=\"960\" height=\"440\" fill=\"white\"/>\n"
      << "<text x=\"480\" y=\"24\" text-anchor=\"middle\" font-size=\"17\" font-weight=\"bold\">" << escape(title)
      << "</text>\n";
  panel(svg, 70, 70, 380, 280, "loss (cross-entropy)", {train_loss, test_loss}, epochs, false);
  panel(svg, 560, 70, 380, 280, "accuracy", {train_acc, test_acc}, epochs, true);
  svg << "</svg>\n";
  write_file_atomically(path, svg.str());
}

}  // namespace metalhead::train
