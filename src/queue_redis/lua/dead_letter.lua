-- dead_letter: move a held job to the dead-letter topic as a ready job (due
-- now, a new sequence there), keeping id, headers, payload, priority,
-- attempt, max attempts, enqueued time, fence and idempotency window; error
-- becomes last_error. If the dead-letter topic already holds the id, the job
-- is only removed; a job with a cancel request is only removed (cancelled).
-- Either way the job ends in its topic (its id is remembered there).
-- KEYS[1..11]  the topic's keys; KEYS[12..22] its dead-letter topic's keys
-- KEYS[23]     the family's fencing counter (unused)
-- KEYS[24]     request key of this call (STRING, expires)
-- ARGV[1]     now override in ms ('' = server TIME)
-- ARGV[2]     request key ttl in ms
-- ARGV[3]     job id
-- ARGV[4]     lease token
-- ARGV[5]     '1' if ARGV[6] is the error to record, '0' for none
-- ARGV[6]     error
-- returns     1 done (also for a re-sent call); -1 no such job; -2 token
--             does not hold it
-- writes      the source's jobs, errors, inflight, cancel, done (and notify
--             when a limited slot frees); the dead-letter topic's jobs, errors,
--             ready, seq, notify; the request key
local now_arg = arg_now(1)
local ttl = arg_int(2, 1, MAX_MS)
local S = topic_keys(1)
local D = topic_keys(BLOCK + 1)
local id = ARGV[3]
local m, reply = held_job(S, id, ARGV[4], KEYS[2 * BLOCK + 2])
if not m then return reply end
local err = nil
if ARGV[5] == '1' then err = ARGV[6] end
unlink(S, id, m)
bury(S, D, id, m, err, now_ms(now_arg))
slot_freed(S)
remember(KEYS[2 * BLOCK + 2], '1', ttl)
return 1
