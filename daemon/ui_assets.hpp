// The dashboard's files (daemon/ui), compiled into svckitd by cmake/EmbedUiAssets.cmake, and the
// routes that serve them at /ui/ on the API port.
//
//   GET /        → 302 /ui/
//   GET /ui      → 302 /ui/        GET /ui/ → index.html
//   GET /ui/{f}  → the file, or 404
//
// Every answer carries a strict Content-Security-Policy (scripts, styles and requests to this
// origin only; no inline script; no framing), nosniff and no-referrer; an ETag over the content
// lets browsers revalidate (If-None-Match → 304). The dashboard reads everything through the
// public HTTP API with the token the user typed, so it needs no route of its own beyond these
// static files (open: they hold no data).
#pragma once

#include <string_view>
#include <vector>

#include "svckit/http/router.hpp"

namespace svckit::daemon {

struct UiAsset {
  std::string_view name;  // "index.html"
  std::string_view content_type;
  std::string_view content;
};

/// The embedded files (immutable, built into the binary).
const std::vector<UiAsset>& ui_assets();

/// Adds the routes above. Set-up only.
void add_ui_routes(http::Router& router);

}  // namespace svckit::daemon
