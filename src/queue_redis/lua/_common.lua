-- queue_redis: helpers prepended to every script (see _scripts.py).
--
-- A topic's keys arrive as eight consecutive KEYS (see _keys.py), all under
-- one hash tag:
--   meta      HASH  id -> "state|priority|max_attempts|enqueued_ms|due_ms|
--                          seq|attempt|fence|deadline_ms|token|rid"
--   payload   HASH  id -> payload bytes
--   errors    HASH  id -> last error (absent: no error)
--   ready     ZSET  score -priority, member %016d(due_ms) %016d(seq) id
--   scheduled ZSET  score due_ms, member %016d(seq) id
--   inflight  ZSET  score deadline_ms, member %016d(seq) id
--   seq       STRING per-topic enqueue sequence (INCR)
--   notify    LIST  wake-up tokens for BLPOP, at most NOTIFY_CAP long
-- state is r (ready), s (scheduled) or f (in flight). rid is the request id
-- of the last call that moved the job, so that a re-sent call (redis-py
-- retries after a connection error) is recognised and answered alike.

local NOTIFY_CAP = 16
local MAX_MS = 9007199254740991

local function now_ms(override)
  if override ~= nil and override ~= '' then
    return tonumber(override)
  end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function topic_keys(i)
  return {
    meta = KEYS[i], payload = KEYS[i + 1], errors = KEYS[i + 2],
    ready = KEYS[i + 3], scheduled = KEYS[i + 4], inflight = KEYS[i + 5],
    seq = KEYS[i + 6], notify = KEYS[i + 7],
  }
end

local function int(n)
  return string.format('%d', n)
end

local function decode(raw)
  local f = {}
  local pos = 1
  for i = 1, 10 do
    local j = string.find(raw, '|', pos, true)
    f[i] = string.sub(raw, pos, j - 1)
    pos = j + 1
  end
  f[11] = string.sub(raw, pos)
  return {
    state = f[1], prio = tonumber(f[2]), max_attempts = tonumber(f[3]),
    enqueued = tonumber(f[4]), due = tonumber(f[5]), seq = tonumber(f[6]),
    attempt = tonumber(f[7]), fence = tonumber(f[8]),
    deadline = tonumber(f[9]), token = f[10], rid = f[11],
  }
end

local function encode(m)
  local deadline = ''
  if m.deadline then deadline = int(m.deadline) end
  return table.concat({
    m.state, int(m.prio), int(m.max_attempts), int(m.enqueued), int(m.due),
    int(m.seq), int(m.attempt), int(m.fence), deadline, m.token, m.rid,
  }, '|')
end

local function ready_member(m, id)
  return string.format('%016d%016d', m.due, m.seq) .. id
end

local function seq_member(m, id)
  return string.format('%016d', m.seq) .. id
end

-- the job's meta, or nil
local function load(K, id)
  local raw = redis.call('HGET', K.meta, id)
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

-- put the job in ready (due) or scheduled (not yet due) and store its meta;
-- the lease, if any, is voided
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
  redis.call('HSET', K.meta, id, encode(m))
end

local function notify(K)
  redis.call('LPUSH', K.notify, '1')
  redis.call('LTRIM', K.notify, 0, NOTIFY_CAP - 1)
end

local function set_error(K, id, err)
  if err then
    redis.call('HSET', K.errors, id, err)
  else
    redis.call('HDEL', K.errors, id)
  end
end

local function forget(K, id)
  redis.call('HDEL', K.meta, id)
  redis.call('HDEL', K.payload, id)
  redis.call('HDEL', K.errors, id)
end

-- move a job (already unlinked from S's sorted sets) to the dead-letter
-- topic D as a ready job with a new sequence there; if D already holds the
-- id, the job is only removed from S
local function bury(S, D, id, m, err, now, rid)
  local payload = redis.call('HGET', S.payload, id)
  forget(S, id)
  if redis.call('HEXISTS', D.meta, id) == 1 then return end
  m.seq = redis.call('INCR', D.seq)
  m.due = now
  m.rid = rid
  redis.call('HSET', D.payload, id, payload)
  set_error(D, id, err)
  place(D, id, m, now)
  notify(D)
end

-- return up to limit expired leases (deadline <= now) to ready, due at
-- their deadline, or to D when out of attempts; returns how many moved
local function reap(S, D, now, limit)
  local members = redis.call('ZRANGEBYSCORE', S.inflight, '-inf', now, 'LIMIT', 0, limit)
  for _, member in ipairs(members) do
    local id = string.sub(member, 17)
    local m = load(S, id)
    redis.call('ZREM', S.inflight, member)
    if not m then
      -- an entry without a job: nothing to move
    elseif m.attempt >= m.max_attempts then
      bury(S, D, id, m, 'lease expired', now, '')
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

-- the reply for a job: id, meta, payload, last error (false if none)
local function job_reply(out, K, id, m)
  out[#out + 1] = id
  out[#out + 1] = encode(m)
  out[#out + 1] = redis.call('HGET', K.payload, id)
  out[#out + 1] = redis.call('HGET', K.errors, id) or false
end
