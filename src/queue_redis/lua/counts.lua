-- counts: jobs of a topic per state, and its dead letters (read only).
-- KEYS[1..7]  the topic's keys; KEYS[8] its dead-letter topic's jobs hash
-- returns     {scheduled, ready, in_flight, dead}
local S = topic_keys(1)
return {
  redis.call('ZCARD', S.scheduled), redis.call('ZCARD', S.ready),
  redis.call('ZCARD', S.inflight), redis.call('HLEN', KEYS[8]),
}
