-- extend: set a lease's deadline to now + lease.
-- KEYS[1..11] the topic's keys
-- ARGV[1]     now override in ms ('' = server TIME)
-- ARGV[2]     job id
-- ARGV[3]     lease token
-- ARGV[4]     lease in ms
-- returns     the new deadline in ms; -1 no such job; -2 token does not hold it
-- writes      jobs, inflight
local now_arg = arg_now(1)
local lease = arg_int(4, 0, MAX_MS)
local S = topic_keys(1)
local id = ARGV[2]
local m = load(S, id)
if not m then return -1 end
if not holds(m, ARGV[3]) then return -2 end
local deadline = math.min(now_ms(now_arg) + lease, MAX_MS)
m.deadline = deadline
redis.call('ZADD', S.inflight, deadline, seq_member(m, id))
store(S, id, m)
return deadline
