#include "net/program_text.hpp"

#include <cstdint>

#include <link.h>
#include <sys/mman.h>
#include <unistd.h>

namespace orb::net {
namespace {

int ReleaseExecutableText(dl_phdr_info* info, std::size_t /*size*/, void* data) {
  // The first object dl_iterate_phdr reports is the executable; its name is "".
  auto* released = static_cast<std::size_t*>(data);
  const auto page = static_cast<std::uintptr_t>(sysconf(_SC_PAGESIZE));
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& header = info->dlpi_phdr[i];
    if (header.p_type != PT_LOAD || (header.p_flags & PF_X) == 0) continue;
    const std::uintptr_t begin = (info->dlpi_addr + header.p_vaddr) & ~(page - 1);
    const std::uintptr_t end =
        (info->dlpi_addr + header.p_vaddr + header.p_memsz + page - 1) & ~(page - 1);
    if (madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED) == 0) {
      *released += end - begin;
    }
  }
  return 1;  // only the executable
}

}  // namespace

std::size_t ReleaseProgramText() {
  std::size_t released = 0;
  dl_iterate_phdr(ReleaseExecutableText, &released);
  return released;
}

}  // namespace orb::net
