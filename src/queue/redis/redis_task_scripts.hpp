// The Lua scripts behind RedisTaskQueue: TaskStore's transitions (task_store.cpp), each one atomic.
// The move to `active` and the lease are one script (fetch), so a task is never active without a
// lease and never leased twice.
//
// Keys (P = the prefix, one hash tag, so a Redis Cluster keeps them in one slot; Q = a queue):
//   P:t:<id>          hash  the task: q name payload prio max_retries timeout ukey ufor state attempts
//                           enq run_at worker lease deadline result error fin prev_delay (times: ms;
//                           a field not set yet is absent and reads as empty / 0)
//   P:q:Q:ready:<0-2> list  pending ids per priority (high, medium, low), fetched from the left
//   P:q:Q:scheduled   zset  id -> run_at          P:q:Q:retry  zset id -> run_at
//   P:q:Q:active      zset  id -> min(lease, deadline)
//   P:q:Q:succeeded / failed / dead  zset id -> finished_at
//   P:q:Q:paused      string, present while paused
//   P:q:Q:unique:<k>  string "<holder id> <until ms>", expiring (PX) after unique_for
//   P:q:Q:wake        list  tokens a waiting fetch blocks on (BLPOP); at most 16 kept
//   P:q:Q:stats       hash  redeliveries
//   P:q:Q:swept       string the time of the last retention sweep
// Times are the client's (ARGV), so every backend shares TaskStore's clock semantics and tests can
// drive Redis with a simulated clock; hosts sharing a queue must keep their clocks in sync (NTP).
// Every script takes ARGV[1] = P, ARGV[2] = now (ms), ARGV[3] = a random seed in [1, 2^31 - 2].
// Replies: {status, ...}; status 0 = done, 1 = not held (not_found), 2 = no such task, 3 = refused
// in this state, 4 = unique key held, 5 = past its timeout.
#pragma once

namespace svckit::queue::redis_scripts {

inline constexpr const char* kCommon = R"lua(
local P = ARGV[1]
local now = tonumber(ARGV[2])
local seed = tonumber(ARGV[3])
local function qk(q, suffix) return P .. ':q:' .. q .. ':' .. suffix end
local function tk(id) return P .. ':t:' .. id end
-- Park-Miller: a uniform number in [0, 1) per call, from the caller's seed (Redis seeds Lua's own
-- generator identically for every script run).
local function uniform()
  seed = (seed * 16807) % 2147483647
  return (seed - 1) / 2147483646
end
local function wake(q)
  redis.call('RPUSH', qk(q, 'wake'), '1')
  redis.call('LTRIM', qk(q, 'wake'), -16, -1)
end
local function make_pending(id, q, prio)
  redis.call('HSET', tk(id), 'state', 'pending')
  redis.call('RPUSH', qk(q, 'ready:' .. prio), id)
end
local function finish(id, q, state, field, value)
  if field then
    redis.call('HSET', tk(id), 'state', state, 'fin', now, 'worker', '', 'deadline', '', field, value)
  else
    redis.call('HSET', tk(id), 'state', state, 'fin', now, 'worker', '', 'deadline', '')
  end
  redis.call('ZADD', qk(q, state), now, id)
end
-- Delay before retry n (BackoffPolicy: kind base cap multiplier in ARGV[4..7] of fail/fetch).
local function backoff(n, previous, kind, base, cap, mult)
  if kind == 'fixed' then return math.min(base, cap) end
  if kind == 'linear' then return math.min(base * n, cap) end
  local grown = math.min(cap, base * mult ^ (n - 1))
  if kind == 'exponential' then return math.floor(grown) end
  if kind == 'full_jitter' then return math.floor(uniform() * grown) end
  -- decorrelated jitter: uniform in [base, 3 × previous], capped
  local high = math.max(base, 3 * math.max(previous, base))
  return math.floor(math.min(cap, base + uniform() * (high - base)))
end
-- A failed attempt: retry after a backoff while attempts <= max_retries, else dead; failed at once
-- when not retryable. Returns the new state.
local function after_failure(id, q, err, retryable, policy)
  local t = tk(id)
  local f = redis.call('HMGET', t, 'attempts', 'max_retries', 'prev_delay')
  local attempts, max_retries = tonumber(f[1]), tonumber(f[2])
  if not retryable then finish(id, q, 'failed', 'error', err); return 'failed' end
  if attempts > max_retries then finish(id, q, 'dead', 'error', err); return 'dead' end
  local delay = backoff(attempts, tonumber(f[3]) or 0, policy[1], policy[2], policy[3], policy[4])
  redis.call('HSET', t, 'state', 'retry', 'run_at', now + delay, 'worker', '', 'deadline', '',
             'prev_delay', delay, 'error', err)
  redis.call('ZADD', qk(q, 'retry'), now + delay, id)
  return 'retry'
end
local function policy_from(i)
  return {ARGV[i], tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2]), tonumber(ARGV[i + 3])}
end
-- The task if `worker` holds its lease; nil otherwise.
local function held(id, worker)
  local f = redis.call('HMGET', tk(id), 'state', 'worker', 'q', 'deadline')
  if f[1] ~= 'active' or f[2] ~= worker then return nil end
  return {q = f[3], deadline = tonumber(f[4])}
end
-- Takes a task out of whatever collection holds it (the pending list, a zset).
local function detach(id, q, state, prio)
  if state == 'pending' then
    redis.call('LREM', qk(q, 'ready:' .. prio), 1, id)
  else
    redis.call('ZREM', qk(q, state), id)
  end
end
)lua";

// ARGV[4] = n, then n × (id q name payload prio max_retries timeout ukey ufor run_at tp ts): a batch of
// enqueues (concurrent producers share one round trip). Reply per task, flat: status, state (0) or
// the holder of its unique key (4).
inline constexpr const char* kEnqueue = R"lua(
local out, woken = {}, {}
for i = 0, tonumber(ARGV[4]) - 1 do
  local b = 5 + i * 12
  local id, q, prio, run_at = ARGV[b], ARGV[b + 1], ARGV[b + 4], tonumber(ARGV[b + 9])
  local ukey, ufor = ARGV[b + 7], tonumber(ARGV[b + 8])
  local refused = nil
  if ukey ~= '' then
    -- "holder until": held while until > now by the client clock; PX only collects it afterwards.
    local key = qk(q, 'unique:' .. ukey)
    local holder = redis.call('GET', key)
    if holder then
      local held_by, held_until = string.match(holder, '^(%S+) (%d+)$')
      if held_until and tonumber(held_until) > now then refused = held_by end
    end
    if not refused then redis.call('SET', key, id .. ' ' .. (now + ufor), 'PX', ufor) end
  end
  if refused then
    table.insert(out, 4)
    table.insert(out, refused)
  else
    local state = 'pending'
    if run_at > now then state = 'scheduled' end
    -- Only what is set: absent fields read as empty/0 (fewer fields: less work per task).
    if ukey ~= '' then
      redis.call('HSET', tk(id), 'q', q, 'name', ARGV[b + 2], 'payload', ARGV[b + 3], 'prio', prio,
                 'max_retries', ARGV[b + 5], 'timeout', ARGV[b + 6], 'enq', now, 'run_at', run_at,
                 'state', state, 'ukey', ukey, 'ufor', ufor)
    else
      redis.call('HSET', tk(id), 'q', q, 'name', ARGV[b + 2], 'payload', ARGV[b + 3], 'prio', prio,
                 'max_retries', ARGV[b + 5], 'timeout', ARGV[b + 6], 'enq', now, 'run_at', run_at,
                 'state', state)
    end
    if ARGV[b + 10] ~= '' then redis.call('HSET', tk(id), 'tp', ARGV[b + 10], 'ts', ARGV[b + 11]) end
    table.insert(out, 0)
    table.insert(out, state)
    if state == 'scheduled' then
      redis.call('ZADD', qk(q, 'scheduled'), run_at, id)
    else
      redis.call('RPUSH', qk(q, 'ready:' .. prio), id)
      woken[q] = true
    end
  end
end
for q in pairs(woken) do wake(q) end
return out
)lua";

// The workers' operations, batched: ARGV[4..7] backoff policy, then lease strict w_high w_medium
// w_low retention max_dead dead_max_age n, then n × (kind a b c):
//   kind 'c' (complete): a = id, b = worker, c = result      → reply {0} or {1} not held
//   kind 'n' (complete + fetch): a = id, b = worker, c = result → {1} or {0, fetch's reply}
//   kind 'f' (fetch):    a = queue, b = worker               → reply {0, id, HGETALL...} or
//                        {1, next_due} (next_due -1: nothing scheduled; nothing due or paused)
// applied in order (a pool's completions and idle loops share one round trip). Per queue fetched
// from, once: recovers expired leases, promotes due tasks, sweeps old ones (each bounded per call).
inline constexpr const char* kWorkerOps = R"lua(
local policy = policy_from(4)
local lease, strict = tonumber(ARGV[8]), ARGV[9] == '1'
local weights = {tonumber(ARGV[10]), tonumber(ARGV[11]), tonumber(ARGV[12])}
local retention, max_dead, dead_age = tonumber(ARGV[13]), tonumber(ARGV[14]), tonumber(ARGV[15])
local function maintain(q)
  -- expired leases: a failed attempt each
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', qk(q, 'active'), '-inf', now, 'LIMIT', 0, 100)) do
    redis.call('ZREM', qk(q, 'active'), id)
    local deadline = tonumber(redis.call('HGET', tk(id), 'deadline'))
    local why = 'lease expired: the worker stopped renewing'
    if deadline and deadline <= now then why = 'timeout: the attempt ran past its timeout' end
    redis.call('HINCRBY', qk(q, 'stats'), 'redeliveries', 1)
    if after_failure(id, q, why, true, policy) == 'retry' then wake(q) end
  end
  -- due scheduled and retry tasks
  for _, set in ipairs({'scheduled', 'retry'}) do
    for _, id in ipairs(redis.call('ZRANGEBYSCORE', qk(q, set), '-inf', now, 'LIMIT', 0, 1000)) do
      redis.call('ZREM', qk(q, set), id)
      make_pending(id, q, redis.call('HGET', tk(id), 'prio'))
    end
  end
  -- retention and the dead set's bounds: at most once a second (by the callers' clock)
  local swept = tonumber(redis.call('GET', qk(q, 'swept')) or '0')
  if now < swept + 1000 and now >= swept then return end
  redis.call('SET', qk(q, 'swept'), now)
  for _, set in ipairs({'succeeded', 'failed'}) do
    for _, id in ipairs(redis.call('ZRANGEBYSCORE', qk(q, set), '-inf', now - retention, 'LIMIT', 0, 100)) do
      redis.call('ZREM', qk(q, set), id)
      redis.call('DEL', tk(id))
    end
  end
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', qk(q, 'dead'), '-inf', now - dead_age, 'LIMIT', 0, 100)) do
    redis.call('ZREM', qk(q, 'dead'), id)
    redis.call('DEL', tk(id))
  end
  local surplus = redis.call('ZCARD', qk(q, 'dead')) - max_dead
  if surplus > 0 then
    for _, id in ipairs(redis.call('ZRANGE', qk(q, 'dead'), 0, math.min(surplus, 100) - 1)) do
      redis.call('ZREM', qk(q, 'dead'), id)
      redis.call('DEL', tk(id))
    end
  end
end
local function next_due(q)
  local due = -1
  for _, set in ipairs({'scheduled', 'retry'}) do
    local first = redis.call('ZRANGE', qk(q, set), 0, 0, 'WITHSCORES')
    if first[2] and (due < 0 or tonumber(first[2]) < due) then due = tonumber(first[2]) end
  end
  return due
end
-- Per queue, read once per call: paused, the pending lengths (kept current as tasks are leased)
-- and the next due time, so a batch of asks costs its leases, not its size.
local queues = {}
local function queue_state(q)
  local st = queues[q]
  if st then return st end
  st = {paused = redis.call('EXISTS', qk(q, 'paused')) == 1, lengths = {}}
  for level = 0, 2 do
    if st.paused then st.lengths[level] = 0 else st.lengths[level] = redis.call('LLEN', qk(q, 'ready:' .. level)) end
  end
  queues[q] = st
  return st
end
local function nothing(q, st)
  if not st.due then st.due = next_due(q) end
  return {1, st.due}
end
local function lease_one(q, worker)
  local st = queue_state(q)
  local lengths, total = st.lengths, 0
  for level = 0, 2 do
    if lengths[level] > 0 then total = total + weights[level + 1] end
  end
  local pick = -1
  if strict then
    for level = 0, 2 do if pick < 0 and lengths[level] > 0 then pick = level end end
  elseif total > 0 then
    local r = math.floor(uniform() * total)
    for level = 0, 2 do
      if pick < 0 and lengths[level] > 0 then
        if r < weights[level + 1] then pick = level else r = r - weights[level + 1] end
      end
    end
  end
  if pick < 0 then return nothing(q, st) end
  lengths[pick] = lengths[pick] - 1
  local id = redis.call('LPOP', qk(q, 'ready:' .. pick))
  local t = tk(id)
  local fields = redis.call('HGETALL', t)
  local timeout, attempts = 0, 0
  for i = 1, #fields, 2 do
    if fields[i] == 'timeout' then timeout = tonumber(fields[i + 1]) end
    if fields[i] == 'attempts' then attempts = tonumber(fields[i + 1]) end
  end
  local until_ms, deadline = now + lease, ''
  if timeout > 0 then deadline = now + timeout end
  local changed = {state = 'active', worker = worker, lease = until_ms, deadline = deadline,
                   attempts = attempts + 1}
  redis.call('HSET', t, 'state', 'active', 'worker', worker, 'lease', until_ms, 'deadline', deadline,
             'attempts', attempts + 1)
  local score = until_ms
  if deadline ~= '' then score = math.min(until_ms, deadline) end
  redis.call('ZADD', qk(q, 'active'), score, id)
  local reply = {0, id}
  for name, value in pairs(changed) do
    table.insert(reply, name)
    table.insert(reply, tostring(value))
  end
  for i = 1, #fields, 2 do
    if changed[fields[i]] == nil then
      table.insert(reply, fields[i])
      table.insert(reply, fields[i + 1])
    end
  end
  return reply
end
local function complete(id, worker, result)
  local task = held(id, worker)
  if not task then return {1} end
  redis.call('ZREM', qk(task.q, 'active'), id)
  finish(id, task.q, 'succeeded', 'result', result)
  return {0}
end
local maintained, out = {}, {}
-- complete, then the next task of the same queue for the same worker: {1} not held, else
-- {0, lease_one's reply}
local function complete_next(id, worker, result)
  local task = held(id, worker)
  if not task then return {1} end
  redis.call('ZREM', qk(task.q, 'active'), id)
  finish(id, task.q, 'succeeded', 'result', result)
  if not maintained[task.q] then maintain(task.q); maintained[task.q] = true end
  return {0, lease_one(task.q, worker)}
end
for i = 0, tonumber(ARGV[16]) - 1 do
  local b = 17 + 4 * i
  if ARGV[b] == 'c' then
    table.insert(out, complete(ARGV[b + 1], ARGV[b + 2], ARGV[b + 3]))
  elseif ARGV[b] == 'n' then
    table.insert(out, complete_next(ARGV[b + 1], ARGV[b + 2], ARGV[b + 3]))
  else
    local q = ARGV[b + 1]
    if not maintained[q] then maintain(q); maintained[q] = true end
    table.insert(out, lease_one(q, ARGV[b + 2]))
  end
end
return out
)lua";

// ARGV[4..] = id worker lease. Reply {0, lease_until}, {1} not held, {5} past its timeout.
inline constexpr const char* kRenew = R"lua(
local id, worker, lease = ARGV[4], ARGV[5], tonumber(ARGV[6])
local task = held(id, worker)
if not task then return {1} end
if task.deadline and now >= task.deadline then return {5} end
local until_ms = now + lease
redis.call('HSET', tk(id), 'lease', until_ms)
local score = until_ms
if task.deadline then score = math.min(until_ms, task.deadline) end
redis.call('ZADD', qk(task.q, 'active'), score, id)
return {0, until_ms}
)lua";

// ARGV[4..7] backoff policy, then id worker error retryable(0/1). Reply {0, state} or {1}.
inline constexpr const char* kFail = R"lua(
local policy = policy_from(4)
local id, worker = ARGV[8], ARGV[9]
local task = held(id, worker)
if not task then return {1} end
redis.call('ZREM', qk(task.q, 'active'), id)
local state = after_failure(id, task.q, ARGV[10], ARGV[11] == '1', policy)
if state == 'retry' then wake(task.q) end
return {0, state}
)lua";

// ARGV[4] = id. Reply {0} (now pending), {2} no such task, {3, state} refused (active/succeeded).
inline constexpr const char* kRunNow = R"lua(
local id = ARGV[4]
local f = redis.call('HMGET', tk(id), 'state', 'q', 'prio')
local state, q, prio = f[1], f[2], f[3]
if not state then return {2} end
if state == 'pending' then return {0} end
if state == 'active' or state == 'succeeded' then return {3, state} end
detach(id, q, state, prio)
if state == 'dead' or state == 'failed' then redis.call('HSET', tk(id), 'attempts', 0, 'fin', 0) end
redis.call('HSET', tk(id), 'run_at', now)
make_pending(id, q, prio)
wake(q)
return {0}
)lua";

// ARGV[4] = id. Reply {0}, {2} no such task, {3, 'active'} refused.
inline constexpr const char* kRemove = R"lua(
local id = ARGV[4]
local f = redis.call('HMGET', tk(id), 'state', 'q', 'prio')
local state, q, prio = f[1], f[2], f[3]
if not state then return {2} end
if state == 'active' then return {3, state} end
detach(id, q, state, prio)
redis.call('DEL', tk(id))
return {0}
)lua";

// ARGV[4] = q. Reply {pending, scheduled, active, retry, succeeded, failed, dead, redeliveries}.
inline constexpr const char* kCounts = R"lua(
local q = ARGV[4]
local pending = 0
for level = 0, 2 do pending = pending + redis.call('LLEN', qk(q, 'ready:' .. level)) end
local out = {pending}
for _, set in ipairs({'scheduled', 'active', 'retry', 'succeeded', 'failed', 'dead'}) do
  table.insert(out, redis.call('ZCARD', qk(q, set)))
end
table.insert(out, tonumber(redis.call('HGET', qk(q, 'stats'), 'redeliveries') or '0'))
return out
)lua";

// ARGV[4..] = q state limit. Reply: {id, fields, id, fields, ...} — pending in fetch order per
// priority (high first), the others by their time (due, lease end, finish).
inline constexpr const char* kList = R"lua(
local q, state, limit = ARGV[4], ARGV[5], tonumber(ARGV[6])
local ids = {}
if state == 'pending' then
  for level = 0, 2 do
    if #ids < limit then
      for _, id in ipairs(redis.call('LRANGE', qk(q, 'ready:' .. level), 0, limit - #ids - 1)) do
        table.insert(ids, id)
      end
    end
  end
else
  ids = redis.call('ZRANGE', qk(q, state), 0, limit - 1)
end
local out = {}
for _, id in ipairs(ids) do
  table.insert(out, id)
  table.insert(out, redis.call('HGETALL', tk(id)))
end
return out
)lua";

}  // namespace svckit::queue::redis_scripts
