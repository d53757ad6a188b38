#include <metalhead/placeholders.h>

#include <flux/init.h>

#include <optional>

namespace metalhead {

Model placeholder_model(const ModelInfo& info, const ModelOptions& options) {
  std::optional<flux::SkipInit> skip;
  if (info.family != "UNet") skip.emplace();
  return info.build(options);
}

void fill_placeholder(const Tensor& target, const Tensor& value) {
  if (target.is_meta()) {
    auto fresh = value.to(target.scalar_type()).contiguous();
    target.unsafeGetTensorImpl()->shallow_copy_from(fresh.getIntrusivePtr());
  } else {
    Tensor t = target;
    t.copy_(value);
  }
}

}  // namespace metalhead
