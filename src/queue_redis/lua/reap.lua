-- reap: return expired leases (deadline <= now) to ready, due at their
-- deadline, last error 'lease expired'; a job whose attempt reached
-- max_attempts goes to the dead-letter topic instead, and a job with a
-- cancel request ends (deleted). Deadline order.
-- KEYS[1..11]  the topic's keys; KEYS[12..22] its dead-letter topic's keys
-- KEYS[23]     the family's fencing counter (unused)
-- ARGV[1]     now override in ms ('' = server TIME)
-- ARGV[2]     limit
-- returns     how many jobs moved
local now_arg = arg_now(1)
local limit = arg_int(2, 0, 100000)
return reap(topic_keys(1), topic_keys(BLOCK + 1), now_ms(now_arg), limit)
