-- purge: delete waiting (scheduled or ready) jobs; in-flight ones stay.
-- KEYS[1..7]  the topic's keys
-- ARGV[1]     mode: 'ids' or 'scan'
-- mode ids:   ARGV[2..] job ids
-- mode scan:  ARGV[2] limit: delete up to limit jobs, ready ones first
-- returns     how many jobs were deleted
local S = topic_keys(1)
local deleted = 0
if ARGV[1] == 'ids' then
  local seen = {}
  for i = 2, #ARGV do
    local id = ARGV[i]
    if not seen[id] then
      seen[id] = true
      local m = load(S, id)
      if m and m.state ~= 'f' then
        unlink(S, id, m)
        forget(S, id)
        deleted = deleted + 1
      end
    end
  end
  return deleted
end
local limit = tonumber(ARGV[2])
for _, spec in ipairs({{S.ready, READY_CUT}, {S.scheduled, SEQ_CUT}}) do
  if deleted < limit then
    local members = redis.call('ZRANGE', spec[1], 0, limit - deleted - 1)
    for _, member in ipairs(members) do
      redis.call('ZREM', spec[1], member)
      forget(S, string.sub(member, spec[2]))
    end
    deleted = deleted + #members
  end
end
return deleted
