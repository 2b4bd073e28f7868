# ORB_SANITIZE=ON builds everything with ASan + UBSan and makes every finding fatal.
option(ORB_SANITIZE "Build with AddressSanitizer and UndefinedBehaviorSanitizer" OFF)
if(ORB_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined -fno-sanitize-recover=all)
  # Position-dependent executables: ASan describes every instrumented global with pointers, and in
  # a PIE each of them is a relocation the loader applies at every start (3.6 million in
  # net_test). The test command starts a process per test (about 1,100, and the programs the
  # integration tests run): half the asan pass's CPU went to starting and stopping them.
  # -no-pie resolves those at link time: net_test's empty start 0.83 -> 0.34 s of CPU.
  add_link_options(-no-pie)
endif()
