-- counts: jobs of a topic per state, its dead letters, and the earliest due
-- time among jobs due now (read only).
-- KEYS[1..11] the topic's keys; KEYS[12] its dead-letter topic's jobs hash
-- ARGV[1]     now override in ms ('' = server TIME)
-- returns     {scheduled, ready, in_flight, dead, oldest due ms or -1}
-- The oldest due time of ready jobs is the first member of each priority
-- band (members order by due time within a score): exact for ready jobs
-- spanning up to BANDS priorities, a later time beyond that.
local BANDS = 64
local S = topic_keys(1)
local now = now_ms(arg_now(1))
local oldest = -1
local low = '-inf'
for _ = 1, BANDS do
  local head = redis.call('ZRANGEBYSCORE', S.ready, low, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
  if #head == 0 then break end
  local due = tonumber(string.sub(head[1], 1, 14), 16)
  if oldest < 0 or due < oldest then oldest = due end
  low = '(' .. head[2]
end
local first = first_score(S.scheduled)
if first >= 0 and first <= now and (oldest < 0 or first < oldest) then oldest = first end
return {
  redis.call('ZCARD', S.scheduled), redis.call('ZCARD', S.ready),
  redis.call('ZCARD', S.inflight), redis.call('HLEN', KEYS[BLOCK + 1]), oldest,
}
