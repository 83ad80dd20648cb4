-- ack: settle leases, deleting each job whose token still holds it (it
-- ends: its id is remembered for its idempotency window).
-- KEYS[1..11] the topic's keys
-- ARGV[1]     now override in ms ('' = server TIME)
-- ARGV[2..]   pairs: job id, lease token
-- returns     per pair 1 (acked), 0 (no such job), -1 (token does not hold it)
-- writes      jobs, errors, inflight, cancel, done, notify
local now_arg = arg_now(1)
if (#ARGV - 1) % 2 ~= 0 then error('ERR queue_redis: ack takes id, token pairs') end
return ack_pairs(topic_keys(1), 2, now_arg)
