// Boost.URL's sources, compiled into this one translation unit (its header-only mode): Debian 12
// packages the compiled library separately (libboost-url1.81-dev), and one TU is all it costs.
// No other file may include <boost/url/src.hpp>, or its symbols are defined twice.
#include <boost/url/src.hpp>
