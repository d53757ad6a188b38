// config.h — a configuration table's entry by name (internal), with the error that
// lists the valid names: tables as maps from name to row, or as ranges of rows with a
// `name` field.
#pragma once

#include <metalhead/model.h>

#include <map>
#include <string_view>
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

template <class Rows>
const auto& find_config(const Rows& rows, std::string_view config, const std::string& who) {
  for (const auto& row : rows) {
    if (std::string_view(row.name) == config) return row;
  }
  std::vector<std::string> allowed;
  for (const auto& row : rows) allowed.push_back("\"" + std::string(row.name) + "\"");
  bad_config(who, "config \"" + std::string(config) + "\"", allowed);
}

}  // namespace metalhead::detail
