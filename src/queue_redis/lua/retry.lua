-- retry: end an attempt; the job is due again at now + delay (scheduled if
-- that is in the future), keeping its attempt count, priority and sequence.
-- KEYS[1..7]  the topic's keys
-- KEYS[8]     request key of this call (STRING, expires)
-- ARGV[1]     now override in ms ('' = server TIME)
-- ARGV[2]     request key ttl in ms
-- ARGV[3]     job id
-- ARGV[4]     lease token
-- ARGV[5]     delay in ms
-- ARGV[6]     '1' if ARGV[7] is the error to record, '0' for none
-- ARGV[7]     error
-- returns     1 done (also for a re-sent call); -1 no such job; -2 token
--             does not hold it
local S = topic_keys(1)
local id = ARGV[3]
local m, reply = held_job(S, id, ARGV[4], KEYS[8])
if not m then return reply end
local now = now_ms(ARGV[1])
redis.call('ZREM', S.inflight, seq_member(m, id))
if ARGV[6] == '1' then set_error(S, id, ARGV[7]) else set_error(S, id, nil) end
m.due = math.min(now + tonumber(ARGV[5]), MAX_MS)
place(S, id, m, now)
notify(S)
remember(KEYS[8], '1', tonumber(ARGV[2]))
return 1
