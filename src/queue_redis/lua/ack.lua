-- ack: settle leases, deleting each job whose token still holds it.
-- KEYS[1..7]  the topic's keys
-- ARGV        pairs: job id, lease token
-- returns     per pair 1 (acked), 0 (no such job), -1 (token does not hold it)
return ack_pairs(topic_keys(1), 1)
