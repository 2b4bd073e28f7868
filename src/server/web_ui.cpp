#include "server/web_ui.hpp"

namespace orb::server {

const WebUiFile* FindWebUiFile(std::string_view name) {
  for (const WebUiFile& file : WebUiFiles()) {
    if (file.name == name) return &file;
  }
  return nullptr;
}

}  // namespace orb::server
