-- retry: end an attempt; the job is due again at now + delay (scheduled if
-- that is in the future), keeping its attempt count, priority and sequence.
-- A job with a cancel request ends instead (deleted).
-- KEYS[1..11] the topic's keys
-- KEYS[12]    request key of this call (STRING, expires)
-- ARGV[1]     now override in ms ('' = server TIME)
-- ARGV[2]     request key ttl in ms
-- ARGV[3]     job id
-- ARGV[4]     lease token
-- ARGV[5]     delay in ms
-- ARGV[6]     '1' if ARGV[7] is the error to record, '0' for none
-- ARGV[7]     error
-- returns     1 done (also for a re-sent call); -1 no such job; -2 token
--             does not hold it
-- writes      jobs, errors, inflight, ready or scheduled, notify; with a
--             cancel request instead: jobs, errors, cancel, done (and notify
--             when a limited slot frees); the request key
local now_arg = arg_now(1)
local ttl = arg_int(2, 1, MAX_MS)
local delay = arg_int(5, 0, MAX_MS)
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
  if ARGV[6] == '1' then set_error(S, id, ARGV[7]) else set_error(S, id, nil) end
  m.due = math.min(now + delay, MAX_MS)
  place(S, id, m, now)
  notify(S)
end
remember(KEYS[12], '1', ttl)
return 1
