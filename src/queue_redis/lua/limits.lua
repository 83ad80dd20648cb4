-- limits: read or replace a topic's limits.
-- KEYS[1..11] the topic's keys
-- ARGV[1]     mode: 'get' or 'set'
-- mode set:   ARGV[2] max in flight ('' = none), ARGV[3] rate ('' = none),
--             ARGV[4] per in ms
-- returns     get: {max or '', rate or '', per ms or ''}; set: 1
-- writes      limits, rate (cleared when the rate goes), notify
local S = topic_keys(1)
if ARGV[1] == 'get' then
  local lim = redis.call('HMGET', S.limits, 'max', 'rate', 'per')
  return {lim[1] or '', lim[2] or '', lim[3] or ''}
end
if ARGV[1] ~= 'set' then error('ERR queue_redis: limits mode must be get or set') end
if ARGV[2] ~= '' then arg_int(2, 1, 100000) end
if ARGV[3] ~= '' then arg_int(3, 1, 100000) end
arg_int(4, 1, 86400000)
redis.call('DEL', S.limits)
local fields = {'per', ARGV[4]}
if ARGV[2] ~= '' then fields[#fields + 1] = 'max'; fields[#fields + 1] = ARGV[2] end
if ARGV[3] ~= '' then
  fields[#fields + 1] = 'rate'; fields[#fields + 1] = ARGV[3]
else
  redis.call('DEL', S.rate)
end
redis.call('HSET', S.limits, unpack(fields))
notify(S)
return 1
