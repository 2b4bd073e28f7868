#pragma once

// An IANA time zone of the system's zoneinfo (package tzdata), read through Howard Hinnant's
// date/tz (libdate-tz, USE_OS_TZDB=1), whose headers stay in this module's .cpp files.

#include <string>
#include <string_view>

#include "common/expected.hpp"

namespace date {
class time_zone;
}

namespace orb::orchestration {

inline constexpr std::string_view kDefaultTimeZone = "UTC";
inline constexpr std::size_t kMaxTimeZoneName = 64;

// A located zone: cheap to copy (a name and a pointer into date/tz's database, which lives for the
// whole process). Thread-safe.
class TimeZone {
 public:
  // Finds `name` ("Europe/Berlin", "UTC") in the system's zoneinfo and reads its rules. An unknown
  // or malformed name is invalid_request with a message naming it and one detail
  // {field: "timeZone", problem}; a missing zoneinfo (no tzdata) is internal.
  static Expected<TimeZone> Load(std::string_view name);

  [[nodiscard]] const std::string& name() const { return name_; }
  [[nodiscard]] const date::time_zone& zone() const { return *zone_; }

 private:
  TimeZone(std::string name, const date::time_zone* zone) : name_(std::move(name)), zone_(zone) {}

  std::string name_;
  const date::time_zone* zone_;
};

}  // namespace orb::orchestration
