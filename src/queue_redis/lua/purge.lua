-- purge: delete waiting (scheduled or ready) jobs; in-flight ones stay. A
-- deleted job ends: its id is remembered for its idempotency window.
-- KEYS[1..11] the topic's keys
-- ARGV[1]     now override in ms ('' = server TIME)
-- ARGV[2]     mode: 'ids' or 'scan'
-- mode ids:   ARGV[3..] job ids
-- mode scan:  ARGV[3] limit: delete up to limit jobs, ready ones first
-- returns     how many jobs were deleted
-- writes      jobs, errors, ready, scheduled, cancel, done
local now_arg = arg_now(1)
local limit = 0
if ARGV[2] == 'scan' then limit = arg_int(3, 0, 100000)
elseif ARGV[2] ~= 'ids' then error('ERR queue_redis: purge mode must be ids or scan') end
local S = topic_keys(1)
local now = now_ms(now_arg)
local deleted = 0
if ARGV[2] == 'ids' then
  local seen = {}
  for i = 3, #ARGV do
    local id = ARGV[i]
    if not seen[id] then
      seen[id] = true
      local m = load(S, id)
      if m and m.state ~= 'f' then
        unlink(S, id, m)
        finish(S, id, m, now)
        deleted = deleted + 1
      end
    end
  end
  return deleted
end
for _, spec in ipairs({{S.ready, READY_CUT}, {S.scheduled, SEQ_CUT}}) do
  if deleted < limit then
    local members = redis.call('ZRANGE', spec[1], 0, limit - deleted - 1)
    for _, member in ipairs(members) do
      local id = string.sub(member, spec[2])
      redis.call('ZREM', spec[1], member)
      local raw = redis.call('HGET', S.jobs, id)
      if raw then finish(S, id, decode(raw, true), now) else forget(S, id) end
    end
    deleted = deleted + #members
  end
end
return deleted
