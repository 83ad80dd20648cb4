-- release: give a job back at once (due now) without using up an attempt:
-- attempt goes back by one, the fencing token does not.
-- KEYS[1..8]  the topic's keys
-- ARGV[1]     now override in ms ('' = server TIME)
-- ARGV[2]     request id
-- ARGV[3]     job id
-- ARGV[4]     lease token
-- returns     1 done (also for a re-sent call); -1 no such job; -2 token
--             does not hold it
local S = topic_keys(1)
local rid = ARGV[2]
local id = ARGV[3]
local m = load(S, id)
if not m then return -1 end
if not holds(m, ARGV[4]) then
  if m.rid == rid then return 1 end
  return -2
end
local now = now_ms(ARGV[1])
redis.call('ZREM', S.inflight, seq_member(m, id))
m.attempt = math.max(0, m.attempt - 1)
m.due = now
m.rid = rid
place(S, id, m, now)
notify(S)
return 1
