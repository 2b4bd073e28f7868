// Compiles Asio (with its TLS support) and Beast exactly once for the whole program.
// orb_net defines BOOST_ASIO_SEPARATE_COMPILATION and BOOST_BEAST_SEPARATE_COMPILATION as PUBLIC
// compile definitions, so every other translation unit that includes Asio or Beast (only files in
// src/net may) sees declarations only and links against the definitions compiled here. This keeps
// each Beast TU of net (server, client) from recompiling the library bodies.
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
#include <boost/beast/src.hpp>
