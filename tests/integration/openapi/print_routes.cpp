// Prints fleet-cmdr's route table, one route a line: "ROUTE\t<method>\t<pattern>\t<role>\t<body>".
// fleet-cmdr has no way to list its routes from outside, so openapi_test.py runs this program to
// compare docs/openapi.yaml with the table a real FleetCmdr builds (FleetCmdr::Routes(), the very
// table the server routes by). The FleetCmdr is created over a temporary data dir and never
// started. The prefix keeps the lines apart from any log output. Exit code 1 when it cannot be
// created or has no routes, so the caller never compares against an empty list.

#include <cstdio>
#include <string>

#include "common/clock.hpp"
#include "server/fleet_cmdr.hpp"
#include "server/route_table.hpp"
#include "support/temp_dir.hpp"

int main() {
  const orb::testing::TempDir dir;
  orb::server::FleetCmdrOptions options;
  options.port = 0;
  options.data_dir = dir / "data";
  auto cmdr = orb::server::FleetCmdr::Create(std::move(options), orb::RealClock());
  if (!cmdr) {
    std::fprintf(stderr, "print_routes: cannot create fleet-cmdr: %s\n",
                 cmdr.error().Describe().c_str());
    return 1;
  }
  const auto routes = (*cmdr)->Routes();
  for (const auto& route : routes) {
    std::printf("ROUTE\t%s\t%s\t%s\t%s\n", route.method.c_str(), route.pattern.c_str(),
                std::string(orb::server::ToString(route.role)).c_str(),
                std::string(orb::server::ToString(route.body)).c_str());
  }
  return routes.empty() ? 1 : 0;
}
