-- claim: lease up to max_jobs due jobs, best first. First reaps expired
-- leases (as reap.lua) and promotes due scheduled jobs (at most
-- promote_limit), then claims; re-arms notify when ready work remains.
-- KEYS[1..8]  the topic's keys; KEYS[9..16] its dead-letter topic's keys
-- KEYS[17]    claim cache of this request (STRING, expires)
-- ARGV[1]     now override in ms ('' = server TIME)
-- ARGV[2]     request id; lease tokens are '<request id>.<n>'
-- ARGV[3]     max_jobs
-- ARGV[4]     lease in ms
-- ARGV[5]     reap limit
-- ARGV[6]     promote limit
-- ARGV[7]     claim cache ttl in ms
-- returns     flat list: id, meta, payload, last error (false) per job.
-- A re-sent call (same request id) finds the cache and returns the jobs the
-- first run leased that it still holds, instead of leasing more.
local S = topic_keys(1)
local D = topic_keys(9)
local rid = ARGV[2]
local out = {}
local cached = redis.call('GET', KEYS[17])
if cached then
  local n = 0
  for id in string.gmatch(cached, '%S+') do
    n = n + 1
    local m = load(S, id)
    if m and holds(m, rid .. '.' .. n) then job_reply(out, S, id, m) end
  end
  return out
end
local now = now_ms(ARGV[1])
reap(S, D, now, tonumber(ARGV[5]))
local due = redis.call('ZRANGEBYSCORE', S.scheduled, '-inf', now, 'LIMIT', 0, tonumber(ARGV[6]))
for _, member in ipairs(due) do
  local id = string.sub(member, 17)
  local m = load(S, id)
  redis.call('ZREM', S.scheduled, member)
  if m then place(S, id, m, now) end
end
local want = tonumber(ARGV[3])
if want < 1 then return out end
local members = redis.call('ZRANGE', S.ready, 0, want - 1)
if #members == 0 then return out end
local deadline = math.min(now + tonumber(ARGV[4]), MAX_MS)
local ids = {}
for n, member in ipairs(members) do
  local id = string.sub(member, 33)
  redis.call('ZREM', S.ready, member)
  local m = load(S, id)
  if m then
    m.attempt = m.attempt + 1
    m.fence = m.fence + 1
    m.state = 'f'
    m.token = rid .. '.' .. n
    m.deadline = deadline
    redis.call('HSET', S.meta, id, encode(m))
    redis.call('ZADD', S.inflight, deadline, seq_member(m, id))
    job_reply(out, S, id, m)
  end
  ids[n] = id
end
redis.call('SET', KEYS[17], table.concat(ids, ' '), 'PX', tonumber(ARGV[7]))
if redis.call('ZCARD', S.ready) > 0 then notify(S) end
return out
