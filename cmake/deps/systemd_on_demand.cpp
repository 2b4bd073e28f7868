// libsystemd on demand, for programs linked with orb_link_statically() (OrbDependencies.cmake).
// Loading libsystemd.so.0 pulls in six more libraries (gcrypt, gpg-error, lz4, lzma, zstd, cap)
// and costs an idle orb-jobs-agent about 1.4 MiB of resident memory, although the agent only
// talks to systemd's bus when it runs instances as transient units (os::SystemdUnit). These
// definitions of the sd-bus functions the program uses dlopen() libsystemd at the first call and
// forward to it; sd_booted() needs no library. When libsystemd cannot be loaded, calls fail with
// -ENOSYS (os::SystemdUnit::Probe then reports systemd unreachable).
//
// The prototypes come from <systemd/sd-bus.h>, so a mismatch does not compile. A function the
// program starts to use and that is not listed here fails the static link with an undefined
// reference: add it below (variadic ones forward to their va_list twins).
#include <cerrno>
#include <cstdarg>

#include <dlfcn.h>
#include <fcntl.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

namespace {

void* Library() {
  static void* const handle = dlopen("libsystemd.so.0", RTLD_NOW | RTLD_LOCAL);
  return handle;
}

template <typename F>
F* Find(const char* name) {
  void* const handle = Library();
  return handle == nullptr ? nullptr : reinterpret_cast<F*>(dlsym(handle, name));
}

bool IsNull(const sd_bus_error* e) {
  return e == nullptr || (e->name == nullptr && e->message == nullptr);
}

}  // namespace

// Each forwarder looks its function up once; without libsystemd it returns `failed`.
#define ORB_FORWARD(name, failed, ...)                   \
  static auto* const fn = Find<decltype(::name)>(#name); \
  if (fn == nullptr) return failed;                      \
  return fn(__VA_ARGS__)

// The same for a variadic function, through its va_list twin; `last` is its last named parameter.
#define ORB_FORWARD_VA(twin, failed, last, ...)          \
  static auto* const fn = Find<decltype(::twin)>(#twin); \
  if (fn == nullptr) return failed;                      \
  va_list ap;                                            \
  va_start(ap, last);                                    \
  const int r = fn(__VA_ARGS__, ap);                     \
  va_end(ap);                                            \
  return r

extern "C" {

// sd_booted(3): "checks whether the directory /run/systemd/system/ exists".
int sd_booted(void) {
  return faccessat(AT_FDCWD, "/run/systemd/system/", F_OK, AT_SYMLINK_NOFOLLOW) >= 0 ? 1 : 0;
}

int sd_bus_new(sd_bus** ret) {
  ORB_FORWARD(sd_bus_new, -ENOSYS, ret);
}
int sd_bus_set_address(sd_bus* bus, const char* address) {
  ORB_FORWARD(sd_bus_set_address, -ENOSYS, bus, address);
}
int sd_bus_negotiate_fds(sd_bus* bus, int b) {
  ORB_FORWARD(sd_bus_negotiate_fds, -ENOSYS, bus, b);
}
int sd_bus_set_method_call_timeout(sd_bus* bus, uint64_t usec) {
  ORB_FORWARD(sd_bus_set_method_call_timeout, -ENOSYS, bus, usec);
}
int sd_bus_start(sd_bus* bus) {
  ORB_FORWARD(sd_bus_start, -ENOSYS, bus);
}
int sd_bus_process(sd_bus* bus, sd_bus_message** r) {
  ORB_FORWARD(sd_bus_process, -ENOSYS, bus, r);
}
int sd_bus_wait(sd_bus* bus, uint64_t timeout_usec) {
  ORB_FORWARD(sd_bus_wait, -ENOSYS, bus, timeout_usec);
}
sd_bus* sd_bus_flush_close_unref(sd_bus* bus) {
  if (bus == nullptr) return nullptr;
  ORB_FORWARD(sd_bus_flush_close_unref, nullptr, bus);
}

int sd_bus_call(sd_bus* bus, sd_bus_message* m, uint64_t usec, sd_bus_error* ret_error,
                sd_bus_message** reply) {
  ORB_FORWARD(sd_bus_call, -ENOSYS, bus, m, usec, ret_error, reply);
}
int sd_bus_call_method(sd_bus* bus, const char* destination, const char* path,
                       const char* interface, const char* member, sd_bus_error* ret_error,
                       sd_bus_message** reply, const char* types, ...) {
  ORB_FORWARD_VA(sd_bus_call_methodv, -ENOSYS, types, bus, destination, path, interface, member,
                 ret_error, reply, types);
}
int sd_bus_get_property_string(sd_bus* bus, const char* destination, const char* path,
                               const char* interface, const char* member, sd_bus_error* ret_error,
                               char** ret) {
  ORB_FORWARD(sd_bus_get_property_string, -ENOSYS, bus, destination, path, interface, member,
              ret_error, ret);
}
int sd_bus_get_property_trivial(sd_bus* bus, const char* destination, const char* path,
                                const char* interface, const char* member, sd_bus_error* ret_error,
                                char type, void* ret_ptr) {
  ORB_FORWARD(sd_bus_get_property_trivial, -ENOSYS, bus, destination, path, interface, member,
              ret_error, type, ret_ptr);
}
int sd_bus_match_signal(sd_bus* bus, sd_bus_slot** ret, const char* sender, const char* path,
                        const char* interface, const char* member,
                        sd_bus_message_handler_t callback, void* userdata) {
  ORB_FORWARD(sd_bus_match_signal, -ENOSYS, bus, ret, sender, path, interface, member, callback,
              userdata);
}
sd_bus_slot* sd_bus_slot_unref(sd_bus_slot* slot) {
  if (slot == nullptr) return nullptr;
  ORB_FORWARD(sd_bus_slot_unref, nullptr, slot);
}

int sd_bus_message_new_method_call(sd_bus* bus, sd_bus_message** m, const char* destination,
                                   const char* path, const char* interface, const char* member) {
  ORB_FORWARD(sd_bus_message_new_method_call, -ENOSYS, bus, m, destination, path, interface,
              member);
}
int sd_bus_message_append(sd_bus_message* m, const char* types, ...) {
  ORB_FORWARD_VA(sd_bus_message_appendv, -ENOSYS, types, m, types);
}
int sd_bus_message_read(sd_bus_message* m, const char* types, ...) {
  ORB_FORWARD_VA(sd_bus_message_readv, -ENOSYS, types, m, types);
}
int sd_bus_message_open_container(sd_bus_message* m, char type, const char* contents) {
  ORB_FORWARD(sd_bus_message_open_container, -ENOSYS, m, type, contents);
}
int sd_bus_message_close_container(sd_bus_message* m) {
  ORB_FORWARD(sd_bus_message_close_container, -ENOSYS, m);
}
int sd_bus_message_enter_container(sd_bus_message* m, char type, const char* contents) {
  ORB_FORWARD(sd_bus_message_enter_container, -ENOSYS, m, type, contents);
}
int sd_bus_message_exit_container(sd_bus_message* m) {
  ORB_FORWARD(sd_bus_message_exit_container, -ENOSYS, m);
}
int sd_bus_message_skip(sd_bus_message* m, const char* types) {
  ORB_FORWARD(sd_bus_message_skip, -ENOSYS, m, types);
}
sd_bus_message* sd_bus_message_unref(sd_bus_message* m) {
  if (m == nullptr) return nullptr;
  ORB_FORWARD(sd_bus_message_unref, nullptr, m);
}

// Only libsystemd fills in an sd_bus_error: one that is still SD_BUS_ERROR_NULL (and the NULL
// objects above) is answered here, so that cleaning up never loads the library.
void sd_bus_error_free(sd_bus_error* e) {
  if (IsNull(e)) return;
  static auto* const fn = Find<decltype(::sd_bus_error_free)>("sd_bus_error_free");
  if (fn != nullptr) fn(e);
}
int sd_bus_error_is_set(const sd_bus_error* e) {
  if (IsNull(e)) return 0;
  ORB_FORWARD(sd_bus_error_is_set, -ENOSYS, e);
}
int sd_bus_error_has_name(const sd_bus_error* e, const char* name) {
  if (IsNull(e)) return 0;
  ORB_FORWARD(sd_bus_error_has_name, -ENOSYS, e, name);
}

}  // extern "C"
