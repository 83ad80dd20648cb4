-- list: a page of jobs in one state, in that state's order (read only):
-- ready in claim order, scheduled by due time then sequence, in flight by
-- deadline then sequence.
-- KEYS[1..11] the topic's keys
-- ARGV[1]     state: 'r', 's' or 'f'
-- ARGV[2]     offset
-- ARGV[3]     count
-- returns     flat list: id, meta, headers .. payload, last error (false)
--             per job
local offset = arg_int(2, 0, 2147483647)
local count = arg_int(3, 0, 100000)
local S = topic_keys(1)
local key, cut = S.ready, READY_CUT
if ARGV[1] == 's' then key, cut = S.scheduled, SEQ_CUT end
if ARGV[1] == 'f' then key, cut = S.inflight, SEQ_CUT end
local out = {}
if count < 1 then return out end
for _, member in ipairs(redis.call('ZRANGE', key, offset, offset + count - 1)) do
  local id = string.sub(member, cut)
  local m = load(S, id)
  if m then job_reply(out, S, id, m) end
end
return out
