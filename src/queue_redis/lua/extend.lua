-- extend: set a lease's deadline to now + lease.
-- KEYS[1..7]  the topic's keys
-- ARGV[1]     now override in ms ('' = server TIME)
-- ARGV[2]     job id
-- ARGV[3]     lease token
-- ARGV[4]     lease in ms
-- returns     the new deadline in ms; -1 no such job; -2 token does not hold it
local S = topic_keys(1)
local id = ARGV[2]
local m = load(S, id)
if not m then return -1 end
if not holds(m, ARGV[3]) then return -2 end
local deadline = math.min(now_ms(ARGV[1]) + tonumber(ARGV[4]), MAX_MS)
m.deadline = deadline
redis.call('ZADD', S.inflight, deadline, seq_member(m, id))
store(S, id, m)
return deadline
