-- release: give a job back at once (due now) without using up an attempt:
-- attempt goes back by one, the fencing token does not. A job with a
-- cancel request ends instead (deleted).
-- KEYS[1..11] the topic's keys
-- KEYS[12]    request key of this call (STRING, expires)
-- ARGV[1]     now override in ms ('' = server TIME)
-- ARGV[2]     request key ttl in ms
-- ARGV[3]     job id
-- ARGV[4]     lease token
-- returns     1 done (also for a re-sent call); -1 no such job; -2 token
--             does not hold it
-- writes      jobs, inflight, ready, notify; with a cancel request
--             instead: jobs, errors, cancel, done (and notify when a limited
--             slot frees); the request key
local now_arg = arg_now(1)
local ttl = arg_int(2, 1, MAX_MS)
local S = topic_keys(1)
local id = ARGV[3]
local m, reply = held_job(S, id, ARGV[4], KEYS[12])
if not m then return reply end
local now = now_ms(now_arg)
redis.call('ZREM', S.inflight, seq_member(m, id))
if redis.call('SISMEMBER', S.cancel, id) == 1 then
  finish(S, id, m, now)
  slot_freed(S)
else
  m.attempt = math.max(0, m.attempt - 1)
  m.due = now
  place(S, id, m, now)
  notify(S)
end
remember(KEYS[12], '1', ttl)
return 1
