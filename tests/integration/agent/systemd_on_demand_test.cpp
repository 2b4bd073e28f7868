// cmake/deps/systemd_on_demand.cpp: the static agent's stand-in for libsystemd, which loads the
// real library at the first sd-bus call and forwards to it. Linked here without libsystemd.
#include <cerrno>
#include <filesystem>

#include <dlfcn.h>
#include <gtest/gtest.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-daemon.h>

namespace {

bool LibsystemdLoaded() {
  void* const handle = dlopen("libsystemd.so.0", RTLD_NOW | RTLD_NOLOAD);
  if (handle != nullptr) dlclose(handle);
  return handle != nullptr;
}

TEST(SystemdOnDemandTest, SdBootedLooksForRunSystemdSystemWithoutTheLibrary) {
  EXPECT_EQ(sd_booted() > 0, std::filesystem::is_directory("/run/systemd/system"));
  EXPECT_FALSE(LibsystemdLoaded());
}

TEST(SystemdOnDemandTest, CleaningUpNothingDoesNotLoadTheLibrary) {
  sd_bus_error error = SD_BUS_ERROR_NULL;
  EXPECT_EQ(sd_bus_error_is_set(&error), 0);
  EXPECT_EQ(sd_bus_error_has_name(&error, SD_BUS_ERROR_UNKNOWN_OBJECT), 0);
  sd_bus_error_free(&error);
  EXPECT_EQ(sd_bus_message_unref(nullptr), nullptr);
  EXPECT_EQ(sd_bus_slot_unref(nullptr), nullptr);
  EXPECT_EQ(sd_bus_flush_close_unref(nullptr), nullptr);
  EXPECT_FALSE(LibsystemdLoaded());
}

TEST(SystemdOnDemandTest, TheFirstBusCallLoadsLibsystemdAndForwardsToIt) {
  sd_bus* bus = nullptr;
  ASSERT_EQ(sd_bus_new(&bus), 0);
  EXPECT_TRUE(LibsystemdLoaded());
  ASSERT_GE(sd_bus_set_address(bus, "unix:path=/nonexistent/orb-test-bus"), 0);
  EXPECT_EQ(sd_bus_start(bus), -ENOENT);
  EXPECT_EQ(sd_bus_flush_close_unref(bus), nullptr);
}

TEST(SystemdOnDemandTest, VariadicCallsReachTheirVaListTwins) {
  // libsystemd's own argument checks answer, through sd_bus_message_appendv/readv.
  EXPECT_EQ(sd_bus_message_append(nullptr, "s", "x"), -EINVAL);
  const char* text = nullptr;
  EXPECT_EQ(sd_bus_message_read(nullptr, "s", &text), -EINVAL);
  EXPECT_TRUE(LibsystemdLoaded());
}

}  // namespace
