-- queue_redis: helpers prepended to every script (see _scripts.py).
--
-- A topic's keys arrive as BLOCK consecutive KEYS (see _keys.py), all under
-- one hash tag:
--   jobs      HASH  id -> "state|priority|max_attempts|enqueued_ms|due_ms|
--                          seq|attempt|fence|deadline_ms|token|window_ms|
--                          headers_len|" .. headers .. payload; the times
--                          (enqueued_ms, due_ms, deadline_ms) in lowercase
--                          hex, the others decimal, and a zero attempt,
--                          fence, window_ms or headers_len stored as ''
--                          (see encode_meta)
--   errors    HASH  id -> last error (absent: no error)
--   ready     ZSET  score -priority, member %014x(due_ms) %014x(seq) id
--   scheduled ZSET  score due_ms, member %014x(seq) id
--   inflight  ZSET  score deadline_ms, member %014x(seq) id
--   seq       STRING per-topic enqueue sequence (INCR)
--   notify    LIST  wake-up tokens for BLPOP, at most NOTIFY_CAP long
--   done      ZSET  idempotency records: member id, score the ms at which
--                   the id is forgotten
--   cancel    SET   ids of in-flight jobs with a pending cancel request
--   limits    HASH  max (jobs in flight), rate (claims), per (ms)
--   rate      ZSET  claims of the rate window: member fencing token, score
--                   the claim's time
-- Scripts on two topics get the source's block, the dead-letter topic's
-- block, then the family's fencing counter (STRING, INCR per claim).
-- state is r (ready), s (scheduled) or f (in flight). Members are fixed
-- width lowercase hex, so their byte order is the (due_ms, seq) order.
-- A call that may be re-sent (redis-py retries after a connection error)
-- leaves its answer in a short-lived request key of its own (KEYS), so
-- that the re-sent call is recognised and answered alike.
-- Every script checks its arguments before its first write: a rejected
-- call changes nothing.

local BLOCK = 11
local NOTIFY_CAP = 16
local MAX_MS = 9007199254740991
local READY_CUT = 29 -- first byte of the id in a ready member
local SEQ_CUT = 15 -- first byte of the id in a scheduled or inflight member
local TRIM = 16 -- expired idempotency records dropped per record written

-- ARGV[i] as an integer in [lo, hi], or an error (before any write)
local function arg_int(i, lo, hi)
  local n = tonumber(ARGV[i])
  if n == nil or n ~= math.floor(n) or n < lo or n > hi then
    error('ERR queue_redis: argument ' .. i .. ' must be an integer in [' .. lo .. ', ' ..
      hi .. '], not ' .. tostring(ARGV[i]))
  end
  return n
end

local function now_ms(override)
  if override ~= nil and override ~= '' then
    return tonumber(override)
  end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- the now override ARGV[i] ('' or ms), checked
local function arg_now(i)
  if ARGV[i] ~= '' then arg_int(i, 0, MAX_MS) end
  return ARGV[i]
end

local function topic_keys(i)
  return {
    jobs = KEYS[i], errors = KEYS[i + 1], ready = KEYS[i + 2],
    scheduled = KEYS[i + 3], inflight = KEYS[i + 4], seq = KEYS[i + 5],
    notify = KEYS[i + 6], done = KEYS[i + 7], cancel = KEYS[i + 8],
    limits = KEYS[i + 9], rate = KEYS[i + 10],
  }
end

local function int(n)
  return string.format('%d', n)
end

-- a record's fields; without_body: skip copying headers and payload
local function decode(raw, without_body)
  local f = {}
  local pos = 1
  for i = 1, 12 do
    local j = string.find(raw, '|', pos, true)
    f[i] = string.sub(raw, pos, j - 1)
    pos = j + 1
  end
  local body = nil
  if not without_body then body = string.sub(raw, pos) end
  return {
    state = f[1], prio = tonumber(f[2]), max_attempts = tonumber(f[3]),
    enqueued = tonumber(f[4], 16), due = tonumber(f[5], 16), seq = tonumber(f[6]),
    attempt = tonumber(f[7]) or 0, fence = tonumber(f[8]) or 0,
    deadline = tonumber(f[9], 16), token = f[10], window = tonumber(f[11]) or 0,
    hlen = tonumber(f[12]) or 0, body = body,
  }
end

-- a count as decimal, zero as '' (most jobs: first attempt, no headers)
local function count_field(n)
  if n == 0 then return '' end
  return string.format('%d', n)
end

-- the fields without headers and payload (also the reply's meta). Compact:
-- every byte counts once per waiting job (times in hex: 11 digits, not 13)
local function encode_meta(m)
  local deadline = ''
  if m.deadline then deadline = string.format('%x', m.deadline) end
  return table.concat({
    m.state, int(m.prio), int(m.max_attempts), string.format('%x', m.enqueued),
    string.format('%x', m.due), int(m.seq), count_field(m.attempt),
    count_field(m.fence), deadline, m.token, count_field(m.window),
    count_field(m.hlen),
  }, '|')
end

local function store(K, id, m)
  redis.call('HSET', K.jobs, id, encode_meta(m) .. '|' .. m.body)
end

local function ready_member(m, id)
  return string.format('%014x%014x', m.due, m.seq) .. id
end

local function seq_member(m, id)
  return string.format('%014x', m.seq) .. id
end

-- the job's record, or nil
local function load(K, id)
  local raw = redis.call('HGET', K.jobs, id)
  if not raw then return nil end
  return decode(raw)
end

-- remove the job's entry from the sorted set of its state
local function unlink(K, id, m)
  if m.state == 'r' then
    redis.call('ZREM', K.ready, ready_member(m, id))
  elseif m.state == 's' then
    redis.call('ZREM', K.scheduled, seq_member(m, id))
  else
    redis.call('ZREM', K.inflight, seq_member(m, id))
  end
end

-- put the job in ready (due) or scheduled (not yet due) and store it; the
-- lease, if any, is voided
local function place(K, id, m, now)
  m.token = ''
  m.deadline = nil
  if m.due > now then
    m.state = 's'
    redis.call('ZADD', K.scheduled, m.due, seq_member(m, id))
  else
    m.state = 'r'
    redis.call('ZADD', K.ready, -m.prio, ready_member(m, id))
  end
  store(K, id, m)
end

local function notify(K)
  if redis.call('LPUSH', K.notify, '1') > NOTIFY_CAP then
    redis.call('LTRIM', K.notify, 0, NOTIFY_CAP - 1)
  end
end

-- an in-flight slot opened: wake a waiter if the topic has an in-flight
-- limit and ready work
local function slot_freed(K)
  if redis.call('HEXISTS', K.limits, 'max') == 1 and redis.call('ZCARD', K.ready) > 0 then
    notify(K)
  end
end

-- one command over many arguments (pairs stay together), in chunks that
-- unpack() can take
local BULK = 4000
local function bulk(cmd, key, items)
  for i = 1, #items, BULK do
    redis.call(cmd, key, unpack(items, i, math.min(i + BULK - 1, #items)))
  end
end

local function hmget(key, ids)
  local values = {}
  for i = 1, #ids, BULK do
    local part = redis.call('HMGET', key, unpack(ids, i, math.min(i + BULK - 1, #ids)))
    for k = 1, #part do values[i + k - 1] = part[k] end
  end
  return values
end

local function set_error(K, id, err)
  if err then
    redis.call('HSET', K.errors, id, err)
  else
    redis.call('HDEL', K.errors, id)
  end
end

-- drop a job's data (a move to another topic, or the end of the job)
local function forget(K, id)
  redis.call('HDEL', K.jobs, id)
  redis.call('HDEL', K.errors, id)
end

-- remember id until until_ms (an idempotency record), dropping a few
-- expired records on the way so that the set stays bounded
local function remember_id(K, id, until_ms, now)
  local old = redis.call('ZRANGEBYSCORE', K.done, '-inf', now, 'LIMIT', 0, TRIM)
  if #old > 0 then redis.call('ZREM', K.done, unpack(old)) end
  redis.call('ZADD', K.done, math.min(until_ms, MAX_MS), id)
end

-- is id remembered (a job of that id ended less than its window ago)?
local function remembered(K, id, now)
  local until_ms = redis.call('ZSCORE', K.done, id)
  return until_ms and tonumber(until_ms) > now
end

-- the job (unlinked from K's sorted sets) ends in K: acked, purged,
-- cancelled or dead-lettered out of K. Its id is remembered for its window.
local function finish(K, id, m, now)
  forget(K, id)
  redis.call('SREM', K.cancel, id)
  if m.window > 0 then remember_id(K, id, now + m.window, now) end
end

-- remember a re-sendable call's answer under its request key
local function remember(key, answer, ttl_ms)
  redis.call('SET', key, answer, 'PX', ttl_ms)
end

-- move a job (already unlinked from S's sorted sets) to the dead-letter
-- topic D as a ready job with a new sequence there; if D already holds the
-- id, the job is only removed from S; a job with a cancel request is only
-- removed (it ends, cancelled)
local function bury(S, D, id, m, err, now)
  local cancelled = redis.call('SISMEMBER', S.cancel, id) == 1
  finish(S, id, m, now)
  if cancelled or redis.call('HEXISTS', D.jobs, id) == 1 then return end
  m.seq = redis.call('INCR', D.seq)
  m.due = now
  set_error(D, id, err)
  place(D, id, m, now)
  notify(D)
end

-- return up to limit expired leases (deadline <= now) to ready, due at
-- their deadline, or to D when out of attempts, or end them when a cancel
-- was requested; returns how many moved
local function reap(S, D, now, limit)
  local members = redis.call('ZRANGEBYSCORE', S.inflight, '-inf', now, 'LIMIT', 0, limit)
  for _, member in ipairs(members) do
    local id = string.sub(member, SEQ_CUT)
    local m = load(S, id)
    redis.call('ZREM', S.inflight, member)
    if not m then
      -- an entry without a job: nothing to move
    elseif redis.call('SISMEMBER', S.cancel, id) == 1 then
      finish(S, id, m, now)
    elseif m.attempt >= m.max_attempts then
      bury(S, D, id, m, 'lease expired', now)
    else
      redis.call('HSET', S.errors, id, 'lease expired')
      m.due = m.deadline
      place(S, id, m, now)
    end
  end
  if #members > 0 then notify(S) end
  return #members
end

-- does the job's state answer a call presenting token?
local function holds(m, token)
  return m.state == 'f' and m.token == token
end

-- the job that `token` holds, or nil and the reply for a caller it does not
-- hold: 1 when `req_key` shows this very call already ran (a re-sent call),
-- -1 when there is no such job, -2 when the token is stale
local function held_job(S, id, token, req_key)
  local m = load(S, id)
  if m and holds(m, token) then return m, nil end
  if redis.call('EXISTS', req_key) == 1 then return nil, 1 end
  if not m then return nil, -1 end
  return nil, -2
end

-- the reply for a job: id, meta, headers .. payload, last error (false if none)
local function job_reply(out, K, id, m)
  out[#out + 1] = id
  out[#out + 1] = encode_meta(m)
  out[#out + 1] = m.body
  out[#out + 1] = redis.call('HGET', K.errors, id) or false
end

-- settle (id, token) pairs ARGV[first..]: per pair 1 acked, 0 no such
-- job, -1 the token does not hold it (pairs in order: a job acked by an
-- earlier pair is gone for a later one). now_arg: the now override.
local function ack_pairs(S, first, now_arg)
  local out, ids = {}, {}
  for i = first, #ARGV, 2 do ids[#ids + 1] = ARGV[i] end
  if #ids == 0 then return out end
  local raws = hmget(S.jobs, ids)
  local gone, members, acked, kept = {}, {}, {}, {}
  for n, id in ipairs(ids) do
    local raw = raws[n]
    if not raw or gone[id] then
      out[n] = 0
    else
      local m = decode(raw, true)
      if not holds(m, ARGV[first + 2 * n - 1]) then
        out[n] = -1
      else
        gone[id] = true
        members[#members + 1] = seq_member(m, id)
        acked[#acked + 1] = id
        if m.window > 0 then kept[#kept + 1] = {id, m.window} end
        out[n] = 1
      end
    end
  end
  if #acked > 0 then
    bulk('ZREM', S.inflight, members)
    bulk('HDEL', S.jobs, acked)
    bulk('HDEL', S.errors, acked)
    if redis.call('SCARD', S.cancel) > 0 then bulk('SREM', S.cancel, acked) end
    if #kept > 0 then
      local now = now_ms(now_arg)
      for _, pair in ipairs(kept) do remember_id(S, pair[1], now + pair[2], now) end
    end
    slot_freed(S)
  end
  return out
end

-- the earliest score of a sorted set, or -1
local function first_score(key)
  local head = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  if #head == 0 then return -1 end
  return tonumber(head[2])
end

-- the topic's limits: max in flight, rate, per (ms); false when unset
local function limits(S)
  local lim = redis.call('HMGET', S.limits, 'max', 'rate', 'per')
  return tonumber(lim[1]) or false, tonumber(lim[2]) or false, tonumber(lim[3]) or 1000
end

-- how many of want jobs the limits let a claim take now, and when the rate
-- window next lets a claim through (-1: not rate limited now); read only
local function room_for(S, want, now)
  local max, rate, per = limits(S)
  local slot = -1
  if max then want = math.min(want, max - redis.call('ZCARD', S.inflight)) end
  if rate then
    local since = now - per
    local used = redis.call('ZCOUNT', S.rate, '(' .. since, '+inf')
    if used >= rate then
      local head = redis.call('ZRANGEBYSCORE', S.rate, '(' .. since, '+inf',
        'WITHSCORES', 'LIMIT', 0, 1)
      slot = tonumber(head[2]) + per
    end
    want = math.min(want, rate - used)
  end
  return math.max(0, want), slot, rate, per
end

-- what a consumer that cannot claim now waits for: {now, earliest
-- scheduled due time or -1, earliest lease deadline or -1, next rate slot
-- or -1}. Nothing is claimable now, so wake-up tokens left by earlier
-- calls are stale: drop them, or idle waiters would return at once.
local function idle_hint(S, now, slot)
  redis.call('DEL', S.notify)
  return {now, first_score(S.scheduled), first_score(S.inflight), slot}
end

-- claim (see claim.lua): cache is the request's claim cache key; returns
-- the flat job reply and, when nothing more can be claimed now, the idle
-- hint ({} otherwise)
local function claim_jobs(S, D, fence, cache, now_arg, rid, want, lease, reap_limit,
                          promote_limit, ttl)
  local out = {}
  local cached = redis.call('GET', cache)
  if cached then
    local n = 0
    for id in string.gmatch(cached, '%S+') do
      n = n + 1
      local m = load(S, id)
      if m and holds(m, rid .. '.' .. n) then job_reply(out, S, id, m) end
    end
    return out, {}
  end
  local now = now_ms(now_arg)
  reap(S, D, now, reap_limit)
  local due = redis.call('ZRANGEBYSCORE', S.scheduled, '-inf', now, 'LIMIT', 0, promote_limit)
  for _, member in ipairs(due) do
    local id = string.sub(member, SEQ_CUT)
    local m = load(S, id)
    redis.call('ZREM', S.scheduled, member)
    if m then place(S, id, m, now) end
  end
  if want < 1 then return out, {} end
  local room, slot, rate, per = room_for(S, want, now)
  if room < 1 then return out, idle_hint(S, now, slot) end
  local popped = redis.call('ZPOPMIN', S.ready, room)
  if #popped == 0 then return out, idle_hint(S, now, -1) end
  local deadline = math.min(now + lease, MAX_MS)
  local ids = {}
  for i = 1, #popped, 2 do ids[#ids + 1] = string.sub(popped[i], READY_CUT) end
  local raws = hmget(S.jobs, ids)
  local errors = hmget(S.errors, ids)
  local found = 0
  for n = 1, #ids do if raws[n] then found = found + 1 end end
  local next_fence = 0
  if found > 0 then next_fence = redis.call('INCRBY', fence, found) - found end
  local records, leased, claims = {}, {}, {}
  for n, id in ipairs(ids) do
    local raw = raws[n]
    if raw then
      local m = decode(raw)
      next_fence = next_fence + 1
      m.attempt = m.attempt + 1
      m.fence = next_fence
      m.state = 'f'
      m.token = rid .. '.' .. n
      m.deadline = deadline
      local meta = encode_meta(m)
      records[#records + 1] = id
      records[#records + 1] = meta .. '|' .. m.body
      leased[#leased + 1] = deadline
      leased[#leased + 1] = seq_member(m, id)
      claims[#claims + 1] = now
      claims[#claims + 1] = int(next_fence)
      out[#out + 1] = id
      out[#out + 1] = meta
      out[#out + 1] = m.body
      out[#out + 1] = errors[n] or false
    end
  end
  if #records > 0 then
    bulk('HSET', S.jobs, records)
    bulk('ZADD', S.inflight, leased)
    if rate then
      redis.call('ZREMRANGEBYSCORE', S.rate, '-inf', now - per)
      bulk('ZADD', S.rate, claims)
    end
  end
  redis.call('SET', cache, table.concat(ids, ' '), 'PX', ttl)
  if redis.call('ZCARD', S.ready) > 0 then
    local left, next_slot = room_for(S, 1, now)
    if left > 0 then
      notify(S)
      return out, {}
    end
    return out, idle_hint(S, now, next_slot)
  end
  return out, idle_hint(S, now, -1)
end
