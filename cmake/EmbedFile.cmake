# cmake -DINPUT=file -DOUTPUT=file.cpp -P EmbedFile.cmake
# Writes orb::server::WebUiIndexHtml() returning the file's bytes (split into chunks of raw string
# literals so no compiler limit on one literal applies).
file(READ ${INPUT} content)
string(LENGTH "${content}" length)
set(out "// Generated from ${INPUT}; do not edit.\n#include \"server/web_ui.hpp\"\n\nnamespace orb::server {\nnamespace {\nconstexpr char kIndex[] =\n")
set(offset 0)
while(offset LESS length)
  string(SUBSTRING "${content}" ${offset} 8000 chunk)
  string(APPEND out "R\"ORBUI(${chunk})ORBUI\"\n")
  math(EXPR offset "${offset} + 8000")
endwhile()
string(APPEND out ";\n}  // namespace\n\nstd::string_view WebUiIndexHtml() { return {kIndex, sizeof(kIndex) - 1}; }\n\n}  // namespace orb::server\n")
file(WRITE ${OUTPUT} "${out}")
