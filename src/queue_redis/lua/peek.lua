-- peek: what a waiting consumer needs to know (read only).
-- KEYS[1..11] the topic's keys
-- ARGV[1]     now override in ms ('' = server TIME)
-- returns     {now, 1 if a job is claimable now (ready, within the limits)
--             else 0, earliest scheduled due time or -1, earliest lease
--             deadline or -1, next rate slot or -1}
local S = topic_keys(1)
local now = now_ms(arg_now(1))
local claimable, slot = 0, -1
if redis.call('ZCARD', S.ready) > 0 then
  local room
  room, slot = room_for(S, 1, now)
  if room > 0 then claimable = 1 end
end
return {now, claimable, first_score(S.scheduled), first_score(S.inflight), slot}
