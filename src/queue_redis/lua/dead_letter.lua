-- dead_letter: move a held job to the dead-letter topic as a ready job (due
-- now, a new sequence there), keeping id, payload, priority, attempt, max
-- attempts, enqueued time and fence; error becomes last_error. If the
-- dead-letter topic already holds the id, the job is only removed.
-- KEYS[1..7]  the topic's keys; KEYS[8..14] its dead-letter topic's keys
-- KEYS[15]    request key of this call (STRING, expires)
-- ARGV[1]     now override in ms ('' = server TIME)
-- ARGV[2]     request key ttl in ms
-- ARGV[3]     job id
-- ARGV[4]     lease token
-- ARGV[5]     '1' if ARGV[6] is the error to record, '0' for none
-- ARGV[6]     error
-- returns     1 done (also for a re-sent call); -1 no such job; -2 token
--             does not hold it
local S = topic_keys(1)
local D = topic_keys(8)
local id = ARGV[3]
local m, reply = held_job(S, id, ARGV[4], KEYS[15])
if not m then return reply end
local err = nil
if ARGV[5] == '1' then err = ARGV[6] end
unlink(S, id, m)
bury(S, D, id, m, err, now_ms(ARGV[1]))
remember(KEYS[15], '1', tonumber(ARGV[2]))
return 1
