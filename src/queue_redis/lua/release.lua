-- release: give a job back at once (due now) without using up an attempt:
-- attempt goes back by one, the fencing token does not.
-- KEYS[1..7]  the topic's keys
-- KEYS[8]     request key of this call (STRING, expires)
-- ARGV[1]     now override in ms ('' = server TIME)
-- ARGV[2]     request key ttl in ms
-- ARGV[3]     job id
-- ARGV[4]     lease token
-- returns     1 done (also for a re-sent call); -1 no such job; -2 token
--             does not hold it
local S = topic_keys(1)
local id = ARGV[3]
local m, reply = held_job(S, id, ARGV[4], KEYS[8])
if not m then return reply end
local now = now_ms(ARGV[1])
redis.call('ZREM', S.inflight, seq_member(m, id))
m.attempt = math.max(0, m.attempt - 1)
m.due = now
place(S, id, m, now)
notify(S)
remember(KEYS[8], '1', tonumber(ARGV[2]))
return 1
