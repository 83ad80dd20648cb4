-- reap: return expired leases (deadline <= now) to ready, due at their
-- deadline, last error 'lease expired'; a job whose attempt reached
-- max_attempts goes to the dead-letter topic instead. Deadline order.
-- KEYS[1..7]  the topic's keys; KEYS[8..14] its dead-letter topic's keys
-- ARGV[1]     now override in ms ('' = server TIME)
-- ARGV[2]     limit
-- returns     how many jobs moved
return reap(topic_keys(1), topic_keys(8), now_ms(ARGV[1]), tonumber(ARGV[2]))
