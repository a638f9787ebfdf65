// What every CLI command does around its own work: open the registry the --registry URL names,
// and run one coroutine on an io_context of its own until it ends.
#pragma once

#include <utility>  // before Asio 1.74 awaitable.hpp

#include <boost/asio/io_context.hpp>
#include <memory>
#include <string>

#include "svckit/core/random.hpp"
#include "svckit/core/result.hpp"
#include "svckit/core/time_source.hpp"
#include "svckit/http/types.hpp"
#include "svckit/registry/registry.hpp"

namespace svckit::cli {

/// A client of the registry at `url` through the built-in backends (svckitd://, consul://, ...).
/// `time` and `random` must outlive it. Errors name the URL's faulty part.
Result<std::unique_ptr<Registry>> open_registry(const std::string& url, boost::asio::any_io_executor executor,
                                                const TimeSource& time, Random& random);

/// Runs `command` on `io` and returns the exit code it returns (1 when it throws). The loop stops
/// when the command ends: pooled connections and their idle timers would otherwise keep it alive
/// for seconds.
int run_to_exit(boost::asio::io_context& io, http::Awaitable<int> command);

}  // namespace svckit::cli
