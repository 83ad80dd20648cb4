-- peek: what a waiting consumer needs to know (read only).
-- KEYS[1..7]  the topic's keys
-- ARGV[1]     now override in ms ('' = server TIME)
-- returns     {now, ready count, earliest scheduled due time or -1,
--             earliest lease deadline or -1}
local S = topic_keys(1)
local function first(key)
  local head = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  if #head == 0 then return -1 end
  return tonumber(head[2])
end
return {now_ms(ARGV[1]), redis.call('ZCARD', S.ready), first(S.scheduled), first(S.inflight)}
