#include "orchestration/time_zone.hpp"

#include <exception>

#include <date/tz.h>

namespace orb::orchestration {
namespace {

Error ZoneError(std::string_view name, std::string problem) {
  std::string shown;
  for (const char c : name.substr(0, kMaxTimeZoneName)) {
    shown += (c >= 0x20 && c < 0x7f && c != '"') ? c : '?';
  }
  problem = "\"" + shown + "\" " + problem;
  return InvalidField("timeZone", std::move(problem));
}

// IANA names are letters, digits and "/_-+" ("America/Port-au-Prince", "Etc/GMT+5").
bool IsZoneName(std::string_view name) {
  if (name.empty() || name.size() > kMaxTimeZoneName || name.front() == '/' ||
      name.find("..") != std::string_view::npos) {
    return false;
  }
  for (const char c : name) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '/' || c == '_' || c == '-' || c == '+';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

Expected<TimeZone> TimeZone::Load(std::string_view name) {
  if (!IsZoneName(name)) {
    return Fail(ZoneError(name, "is not a time zone name (an IANA name such as Europe/Berlin)"));
  }
  // date/tz throws std::runtime_error for an unknown name or an unreadable zoneinfo; nothing of it
  // leaves this function. The database is read once per process (thread-safe, lazily).
  const date::time_zone* zone = nullptr;
  try {
    (void)date::get_tzdb();  // throws when the zoneinfo cannot be read
  } catch (const std::exception& e) {
    return Fail(Errc::kInternal, std::string("time zone database: ") + e.what());
  }
  try {
    zone = date::locate_zone(name);  // throws for an unknown name only (links resolved)
  } catch (const std::exception&) {
    return Fail(ZoneError(name, "is not a known time zone (an IANA name such as Europe/Berlin)"));
  }
  try {
    // Reads the zone's file now, so that later look-ups of its rules cannot fail.
    (void)zone->get_info(date::sys_seconds{});
    return TimeZone(std::string(name), zone);
  } catch (const std::exception& e) {
    return Fail(Errc::kInternal, std::string("time zone database: ") + e.what());
  } catch (...) {
    return Fail(Errc::kInternal, "time zone database: unknown failure");
  }
}

}  // namespace orb::orchestration
