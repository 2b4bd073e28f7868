// toml++'s compiled part, built once in this project instead of loading Debian's
// libtomlplusplus.so (see OrbDependencies.cmake); users compile with TOML_HEADER_ONLY=0.
#define TOML_IMPLEMENTATION
#include <toml++/toml.h>
