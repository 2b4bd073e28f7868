# ORB_FAST_LINKER: link with LLVM's lld when it is installed (scripts/install-deps.sh installs it).
# The test presets (dev, asan) link about 130 programs, most of them test binaries; GNU ld spent
# about a third of a warm asan build on them, lld a fraction of that (docs/build.md). The release
# preset and the statically linked agent keep GNU ld: the agent's hot-text linker script, its link
# map (read by bench/agent/hot_text.py and ctest agent.hot_text_current) and DT_RELR
# (-z pack-relative-relocs, which lld 14 does not know) are GNU ld's (orb_link_statically).
option(ORB_FAST_LINKER "Link with lld when it is installed" OFF)
if(ORB_FAST_LINKER)
  find_program(ORB_LLD_PROGRAM ld.lld)
  if(ORB_LLD_PROGRAM)
    add_link_options(-fuse-ld=lld)
  else()
    message(STATUS "ORB_FAST_LINKER: ld.lld not found, linking with the default linker")
  endif()
endif()
