// config.h — a configuration table's entry by name (internal), with the error that
// lists the valid names.
#pragma once

#include <metalhead/model.h>

#include <map>
#include <string>
#include <vector>

namespace metalhead::detail {

template <class Config>
const Config& lookup_config(const std::map<std::string, Config>& configs, const std::string& what,
                            const std::string& config) {
  auto it = configs.find(config);
  if (it == configs.end()) {
    std::vector<std::string> allowed;
    for (const auto& entry : configs) allowed.push_back("\"" + entry.first + "\"");
    bad_config(what, "config \"" + config + "\"", allowed);
  }
  return it->second;
}

}  // namespace metalhead::detail
