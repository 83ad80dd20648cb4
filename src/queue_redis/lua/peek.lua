-- peek: what a waiting consumer needs to know (read only).
-- KEYS[1..7]  the topic's keys
-- ARGV[1]     now override in ms ('' = server TIME)
-- returns     {now, ready count, earliest scheduled due time or -1,
--             earliest lease deadline or -1}
local S = topic_keys(1)
local now = now_ms(ARGV[1])
return {now, redis.call('ZCARD', S.ready), first_score(S.scheduled), first_score(S.inflight)}
