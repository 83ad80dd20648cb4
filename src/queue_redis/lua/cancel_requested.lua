-- cancel_requested: which of the given in-flight jobs have a pending cancel
-- request (read only).
-- KEYS[1..11] the topic's keys
-- ARGV        job ids
-- returns     the ids among them with a request
local S = topic_keys(1)
local out = {}
if redis.call('SCARD', S.cancel) == 0 then return out end
for _, id in ipairs(ARGV) do
  if redis.call('SISMEMBER', S.cancel, id) == 1 then out[#out + 1] = id end
end
return out
