# Sourced by the build scripts (from the repository's root): where ccache keeps its cache.
# Outside the clone by default, so a CI machine that keeps its home, or a second clone, reuses it
# (entries are keyed by content: sharing is safe); inside the clone when that place is not writable.
if [ -z "${CCACHE_DIR:-}" ]; then
  CCACHE_DIR="${XDG_CACHE_HOME:-${HOME:-$PWD}/.cache}/svckit-ccache"
  if ! mkdir -p "$CCACHE_DIR" 2>/dev/null || [ ! -w "$CCACHE_DIR" ]; then
    CCACHE_DIR="$PWD/.cache/ccache"
  fi
fi
export CCACHE_DIR
