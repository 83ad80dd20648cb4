-- enqueue: add a batch of jobs to one topic.
-- KEYS[1..11] the topic's keys (see _common.lua)
-- KEYS[12]    optional: request key of this call (STRING, expires): ''
--             when every job was created, else the answer ('1'/'0' per
--             job). Given with every call that may be delivered twice (its
--             jobs' ids are remembered after they end, or the client
--             re-sends on its own), so the second delivery gets the first
--             one's answer; a call delivered at most once needs none
-- ARGV[1]     now override in ms ('' = server TIME)
-- ARGV[2]     request key ttl in ms
-- ARGV[3+8k..10+8k]  per job: id, headers .. payload, headers length,
--             priority, max_attempts, run_at_ms ('' = none), delay_ms,
--             idempotency window in ms
-- returns     per job 1 (created) or 0 (the id exists in the topic, or is
--             remembered there: its job ended less than its window ago);
--             a re-sent call gets the first call's answer
-- writes      jobs, ready or scheduled, seq, notify, the request key if any
local S = topic_keys(1)
local now_arg = arg_now(1)
local ttl = arg_int(2, 1, MAX_MS)
if (#ARGV - 2) % 8 ~= 0 then error('ERR queue_redis: enqueue takes 8 arguments per job') end
for i = 3, #ARGV, 8 do
  arg_int(i + 2, 0, #ARGV[i + 1])
  arg_int(i + 3, -2147483648, 2147483647)
  arg_int(i + 4, 1, 2147483647)
  if ARGV[i + 5] ~= '' then arg_int(i + 5, 0, MAX_MS) end
  arg_int(i + 6, 0, MAX_MS)
  arg_int(i + 7, 0, MAX_MS)
end
local out = {}
local guard = KEYS[12]
if guard and not redis.call('SET', guard, '', 'NX', 'PX', ttl) then
  local answered = redis.call('GET', guard)
  for i = 3, #ARGV, 8 do
    local k = (i - 3) / 8 + 1
    if answered == '' then out[k] = 1 else out[k] = string.byte(answered, k) - 48 end
  end
  return out
end
local now = now_ms(now_arg)
local check_done = redis.call('EXISTS', S.done) == 1
local created, duplicate = false, false
for i = 3, #ARGV, 8 do
  local id = ARGV[i]
  if redis.call('HEXISTS', S.jobs, id) == 1 or (check_done and remembered(S, id, now)) then
    out[#out + 1] = 0
    duplicate = true
  else
    local due
    if ARGV[i + 5] ~= '' then
      due = math.max(now, tonumber(ARGV[i + 5]))
    else
      due = math.min(now + tonumber(ARGV[i + 6]), MAX_MS)
    end
    local m = {
      prio = tonumber(ARGV[i + 3]), max_attempts = tonumber(ARGV[i + 4]),
      enqueued = now, due = due, seq = redis.call('INCR', S.seq),
      attempt = 0, fence = 0, window = tonumber(ARGV[i + 7]),
      hlen = tonumber(ARGV[i + 2]), body = ARGV[i + 1],
    }
    place(S, id, m, now)
    created = true
    out[#out + 1] = 1
  end
end
if created then notify(S) end
if duplicate and guard then redis.call('SET', guard, table.concat(out), 'PX', ttl) end
return out
