// The Lua scripts behind redis://. Every change is one script: it edits the instance, bumps the
// registry index and appends the event to a stream in one atomic step, so a watcher reading the
// stream from an index sees every change once, in order.
//
// Keys (all under one hash tag, so a Redis Cluster keeps them in one slot):
//   KEYS[1] {P}:json:<service>   hash id -> instance JSON without status and times
//   KEYS[2] {P}:state:<service>  hash id -> "status registered_ms heartbeat_ms ttl_ms expired_ms before"
//   KEYS[3] {P}:services         hash service -> instance count
//   KEYS[4] {P}:ttl              zset "<service>/<id>" -> heartbeat deadline (ms, server clock)
//   KEYS[5] {P}:gone             zset "<service>/<id>" -> removal time of an expired instance
//   KEYS[6] {P}:index            the registry index (one per change)
//   KEYS[7] {P}:events           stream, entry id "<index>-0": t type, s service, i id, j json, st state, p previous
// Times come from the server's clock (TIME), so clients with skewed clocks agree on expiry.
#pragma once

namespace svckit::redis_registry {

inline constexpr const char* kCommon = R"lua(
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function parse_state(s)
  local st, reg, hb, ttl, exp, before = string.match(s, '^(%S+) (%d+) (%d+) (%d+) (%d+) (%S+)$')
  return {status = st, registered = tonumber(reg), heartbeat = tonumber(hb), ttl = tonumber(ttl),
          expired = tonumber(exp), before = before}
end
local function format_state(s)
  return s.status .. ' ' .. s.registered .. ' ' .. s.heartbeat .. ' ' .. s.ttl .. ' ' .. s.expired .. ' ' .. s.before
end
local function emit(keys, history, kind, service, id, json, state, previous)
  local index = redis.call('INCR', keys[6])
  if index == 1 then index = redis.call('INCR', keys[6]) end  -- index 1 means "empty registry"
  redis.call('XADD', keys[7], 'MAXLEN', history, index .. '-0', 't', kind, 's', service, 'i', id,
             'j', json, 'st', format_state(state), 'p', previous or '')
  return index
end
local function drop(keys, service, id, member)
  redis.call('HDEL', keys[1], id)
  redis.call('HDEL', keys[2], id)
  redis.call('ZREM', keys[4], member)
  redis.call('ZREM', keys[5], member)
  if redis.call('HINCRBY', keys[3], service, -1) <= 0 then redis.call('HDEL', keys[3], service) end
end
)lua";

/// ARGV: service, id, json, status, ttl_ms, max_instances, history. Returns {registered_ms, heartbeat_ms}.
inline constexpr const char* kRegister = R"lua(
local service, id, json, status, ttl = ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
local max, history = tonumber(ARGV[6]), ARGV[7]
local member = service .. '/' .. id
local now = now_ms()
local old_json = redis.call('HGET', KEYS[1], id)
local state
if not old_json then
  if redis.call('HLEN', KEYS[1]) >= max then
    return redis.error_reply('LIMIT service \'' .. service .. '\' already has the maximum of ' .. max .. ' instances')
  end
  state = {status = status, registered = now, heartbeat = now, ttl = ttl, expired = 0, before = status}
  redis.call('HSET', KEYS[1], id, json)
  redis.call('HSET', KEYS[2], id, format_state(state))
  redis.call('HINCRBY', KEYS[3], service, 1)
  emit(KEYS, history, 'registered', service, id, json, state)
else
  local old = parse_state(redis.call('HGET', KEYS[2], id))
  state = {status = status, registered = old.registered, heartbeat = now, ttl = ttl, expired = 0, before = status}
  redis.call('HSET', KEYS[1], id, json)
  redis.call('HSET', KEYS[2], id, format_state(state))
  if old_json ~= json or old.status ~= status then emit(KEYS, history, 'updated', service, id, json, state) end
end
redis.call('ZREM', KEYS[5], member)
if ttl > 0 then redis.call('ZADD', KEYS[4], now + ttl, member) else redis.call('ZREM', KEYS[4], member) end
return {state.registered, now}
)lua";

/// ARGV: service, id, history.
inline constexpr const char* kDeregister = R"lua(
local service, id, history = ARGV[1], ARGV[2], ARGV[3]
local json = redis.call('HGET', KEYS[1], id)
if not json then return redis.error_reply('NOT_FOUND no instance \'' .. id .. '\' of service \'' .. service .. '\'') end
local state = parse_state(redis.call('HGET', KEYS[2], id))
drop(KEYS, service, id, service .. '/' .. id)
emit(KEYS, history, 'deregistered', service, id, json, state)
return 1
)lua";

/// ARGV: service, id, history. An expired instance comes back to the status it had.
inline constexpr const char* kRenew = R"lua(
local service, id, history = ARGV[1], ARGV[2], ARGV[3]
local raw = redis.call('HGET', KEYS[2], id)
if not raw then return redis.error_reply('NOT_FOUND no instance \'' .. id .. '\' of service \'' .. service .. '\'') end
local state = parse_state(raw)
local member = service .. '/' .. id
local now = now_ms()
state.heartbeat = now
local was_expired = state.expired > 0
if was_expired then
  state.status = state.before
  state.expired = 0
  redis.call('ZREM', KEYS[5], member)
end
redis.call('HSET', KEYS[2], id, format_state(state))
if state.ttl > 0 then redis.call('ZADD', KEYS[4], now + state.ttl, member) end
if was_expired then
  emit(KEYS, history, 'status_changed', service, id, redis.call('HGET', KEYS[1], id), state, 'down')
end
return 1
)lua";

/// ARGV: service, id, status, history.
inline constexpr const char* kSetStatus = R"lua(
local service, id, status, history = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local raw = redis.call('HGET', KEYS[2], id)
if not raw then return redis.error_reply('NOT_FOUND no instance \'' .. id .. '\' of service \'' .. service .. '\'') end
local state = parse_state(raw)
local member = service .. '/' .. id
if state.expired > 0 then  -- an explicit status ends the expiry; a stale heartbeat expires it again
  state.expired = 0
  redis.call('ZREM', KEYS[5], member)
  if state.ttl > 0 then redis.call('ZADD', KEYS[4], state.heartbeat + state.ttl, member) end
end
local previous = state.status
state.status = status
state.before = status
redis.call('HSET', KEYS[2], id, format_state(state))
if previous ~= status then
  emit(KEYS, history, 'status_changed', service, id, redis.call('HGET', KEYS[1], id), state, previous)
end
return 1
)lua";

/// KEYS: {P}:services, {P}:ttl, {P}:gone, {P}:index, {P}:events. ARGV: prefix, grace_ms, limit, history.
/// Expires instances past their deadline, removes those expired longer than the grace. Returns events made.
inline constexpr const char* kSweep = R"lua(
local prefix, grace, limit, history = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4]
local now = now_ms()
local made = 0
local function keys_for(service)
  return {prefix .. ':json:' .. service, prefix .. ':state:' .. service, KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]}
end
for _, member in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, limit)) do
  local service, id = string.match(member, '^([^/]+)/(.+)$')
  local keys = keys_for(service)
  redis.call('ZREM', KEYS[2], member)
  local raw = redis.call('HGET', keys[2], id)
  if raw then
    local state = parse_state(raw)
    local previous = state.status
    state.before = previous
    state.status = 'down'
    state.expired = now
    redis.call('HSET', keys[2], id, format_state(state))
    redis.call('ZADD', KEYS[3], now + grace, member)
    emit(keys, history, 'expired', service, id, redis.call('HGET', keys[1], id), state, previous)
    made = made + 1
  end
end
for _, member in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, limit)) do
  local service, id = string.match(member, '^([^/]+)/(.+)$')
  local keys = keys_for(service)
  local json = redis.call('HGET', keys[1], id)
  redis.call('ZREM', KEYS[3], member)
  if json then
    local state = parse_state(redis.call('HGET', keys[2], id))
    drop(keys, service, id, member)
    emit(keys, history, 'deregistered', service, id, json, state)
    made = made + 1
  end
end
return made
)lua";

/// KEYS: {P}:services, {P}:index, {P}:events. ARGV: prefix, service ('' = all).
/// Returns {index, first stream id or '', {service, id, json, state, ...}} read in one atomic step.
inline constexpr const char* kSnapshot = R"lua(
local prefix, only = ARGV[1], ARGV[2]
local index = tonumber(redis.call('GET', KEYS[2]) or '1')
local first = redis.call('XRANGE', KEYS[3], '-', '+', 'COUNT', 1)
local first_id = ''
if #first > 0 then first_id = first[1][1] end
local services = {}
if only ~= '' then services = {only} else services = redis.call('HKEYS', KEYS[1]) end
local out = {}
for _, service in ipairs(services) do
  local states = redis.call('HGETALL', prefix .. ':state:' .. service)
  for i = 1, #states, 2 do
    local json = redis.call('HGET', prefix .. ':json:' .. service, states[i])
    if json then
      out[#out + 1] = service
      out[#out + 1] = states[i]
      out[#out + 1] = json
      out[#out + 1] = states[i + 1]
    end
  end
end
return {index, first_id, out}
)lua";

/// KEYS: {P}:index, {P}:events. Returns {index, first stream id or ''}: how far the log reaches back.
inline constexpr const char* kLogBounds = R"lua(
local index = tonumber(redis.call('GET', KEYS[1]) or '1')
local first = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', 1)
if #first > 0 then return {index, first[1][1]} end
return {index, ''}
)lua";

}  // namespace svckit::redis_registry
