// The one translation unit that compiles Boost.Asio and Boost.Beast (separate compilation:
// every other file only sees declarations, which keeps the build fast on small machines).
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
#include <boost/beast/src.hpp>
