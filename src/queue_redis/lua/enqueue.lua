-- enqueue: add a batch of jobs to one topic.
-- KEYS[1..8]  the topic's keys (see _common.lua)
-- ARGV[1]     now override in ms ('' = server TIME)
-- ARGV[2]     request id (a re-sent call reports its own jobs as created)
-- ARGV[3+6k..8+6k]  per job: id, payload, priority, max_attempts,
--             run_at_ms ('' = none), delay_ms
-- returns     per job 1 (created) or 0 (the id already exists)
local S = topic_keys(1)
local now = now_ms(ARGV[1])
local rid = ARGV[2]
local out = {}
local mine = {}
local created = false
for i = 3, #ARGV, 6 do
  local id = ARGV[i]
  local raw = redis.call('HGET', S.meta, id)
  if raw then
    if not mine[id] and rid ~= '' and decode(raw).rid == rid then
      out[#out + 1] = 1
    else
      out[#out + 1] = 0
    end
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
      attempt = 0, fence = 0, rid = rid,
    }
    redis.call('HSET', S.payload, id, ARGV[i + 1])
    place(S, id, m, now)
    mine[id] = true
    created = true
    out[#out + 1] = 1
  end
end
if created then notify(S) end
return out
