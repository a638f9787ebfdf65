# Sourced by the gateway benchmarks: trace_script <flags> <file> writes a wrk Lua script that sends
# every request with a new W3C traceparent (a random 64-bit prefix per run, then a counter), as
# callers inside traces send; sampled (flags 01) or not (00). Cheap to write: 48 math.random calls
# per request (a first version) cost wrk ~6 us of CPU per request on cores the proxy shares.
trace_script() {
  cat >"$2" <<LUA
math.randomseed(os.time())
local prefix = string.format("%08x%08x", math.random(0, 0x7fffffff), math.random(0, 0x7fffffff))
local n = 0
request = function()
  n = n + 1
  return wrk.format(nil, nil, {["traceparent"] = "00-" .. prefix .. string.format("%016x", n) .. "-00f067aa0ba902b7-$1"})
end
LUA
}
