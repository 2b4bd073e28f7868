#pragma once

#include <string_view>

namespace orb::server {

// The web UI (web/index.html), embedded in the binary at build time: the machines have no
// internet, so nothing is fetched from a CDN.
std::string_view WebUiIndexHtml();

}  // namespace orb::server
