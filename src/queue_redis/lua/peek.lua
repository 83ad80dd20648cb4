-- peek: what a waiting consumer needs to know; drops stale wake-up tokens
-- when nothing is claimable (a waiter would return at once on them).
-- KEYS[1..11] the topic's keys
-- ARGV[1]     now override in ms ('' = server TIME)
-- returns     {now, 1 if a job is claimable now (ready, or scheduled past
--             its due time, or under an expired lease; within the limits)
--             else 0, earliest scheduled due time or -1, earliest lease
--             deadline or -1, next rate slot or -1}
-- writes      notify (cleared when nothing is claimable)
local S = topic_keys(1)
local now = now_ms(arg_now(1))
local claimable, slot = 0, -1
local due = first_score(S.scheduled)
local deadline = first_score(S.inflight)
if redis.call('ZCARD', S.ready) > 0 or (due >= 0 and due <= now)
    or (deadline >= 0 and deadline <= now) then
  local room
  room, slot = room_for(S, 1, now)
  if room > 0 then claimable = 1 end
end
if claimable == 0 then redis.call('DEL', S.notify) end
return {now, claimable, due, deadline, slot}
