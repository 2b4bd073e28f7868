# One warnings target, linked PRIVATE by every orb target (style.md "Tooling").
add_library(orb_warnings INTERFACE)
target_compile_options(orb_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Werror -Wshadow -Wnon-virtual-dtor -Wold-style-cast
  -Woverloaded-virtual -Wsuggest-override -Wconversion -Wno-sign-conversion
  -Wimplicit-fallthrough -Wformat=2)
