-- ack: settle leases, deleting each job whose token still holds it.
-- KEYS[1..8]  the topic's keys
-- ARGV        pairs: job id, lease token
-- returns     per pair 1 (acked), 0 (no such job), -1 (token does not hold it)
local S = topic_keys(1)
local out = {}
for i = 1, #ARGV, 2 do
  local id = ARGV[i]
  local m = load(S, id)
  if not m then
    out[#out + 1] = 0
  elseif not holds(m, ARGV[i + 1]) then
    out[#out + 1] = -1
  else
    redis.call('ZREM', S.inflight, seq_member(m, id))
    forget(S, id)
    out[#out + 1] = 1
  end
end
return out
