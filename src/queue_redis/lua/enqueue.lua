-- enqueue: add a batch of jobs to one topic.
-- KEYS[1..7]  the topic's keys (see _common.lua)
-- KEYS[8]     request key of this call (STRING, expires): '' when every
--             job was created, else the answer ('1'/'0' per job)
-- ARGV[1]     now override in ms ('' = server TIME)
-- ARGV[2]     request key ttl in ms
-- ARGV[3+6k..8+6k]  per job: id, payload, priority, max_attempts,
--             run_at_ms ('' = none), delay_ms
-- returns     per job 1 (created) or 0 (the id already exists); a re-sent
--             call gets the first call's answer
local S = topic_keys(1)
local out = {}
if not redis.call('SET', KEYS[8], '', 'NX', 'PX', tonumber(ARGV[2])) then
  local answered = redis.call('GET', KEYS[8])
  for i = 3, #ARGV, 6 do
    local k = (i - 3) / 6 + 1
    if answered == '' then out[k] = 1 else out[k] = string.byte(answered, k) - 48 end
  end
  return out
end
local now = now_ms(ARGV[1])
local created, duplicate = false, false
for i = 3, #ARGV, 6 do
  local id = ARGV[i]
  if redis.call('HEXISTS', S.jobs, id) == 1 then
    out[#out + 1] = 0
    duplicate = true
  else
    local due
    if ARGV[i + 4] ~= '' then
      due = math.max(now, tonumber(ARGV[i + 4]))
    else
      due = math.min(now + tonumber(ARGV[i + 5]), MAX_MS)
    end
    local m = {
      prio = tonumber(ARGV[i + 2]), max_attempts = tonumber(ARGV[i + 3]),
      enqueued = now, due = due, seq = redis.call('INCR', S.seq),
      attempt = 0, fence = 0, payload = ARGV[i + 1],
    }
    place(S, id, m, now)
    created = true
    out[#out + 1] = 1
  end
end
if created then notify(S) end
if duplicate then redis.call('SET', KEYS[8], table.concat(out), 'PX', tonumber(ARGV[2])) end
return out
