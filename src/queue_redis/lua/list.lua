-- list: a page of jobs in one state, in that state's order (read only):
-- ready in claim order, scheduled by due time then sequence, in flight by
-- deadline then sequence.
-- KEYS[1..7]  the topic's keys
-- ARGV[1]     state: 'r', 's' or 'f'
-- ARGV[2]     offset
-- ARGV[3]     count
-- returns     flat list: id, meta, payload, last error (false) per job
local S = topic_keys(1)
local key, cut = S.ready, READY_CUT
if ARGV[1] == 's' then key, cut = S.scheduled, SEQ_CUT end
if ARGV[1] == 'f' then key, cut = S.inflight, SEQ_CUT end
local offset = tonumber(ARGV[2])
local out = {}
for _, member in ipairs(redis.call('ZRANGE', key, offset, offset + tonumber(ARGV[3]) - 1)) do
  local id = string.sub(member, cut)
  local m = load(S, id)
  if m then job_reply(out, S, id, m) end
end
return out
