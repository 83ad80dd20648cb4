-- cancel: cancel jobs by id. A waiting (scheduled or ready) job is deleted
-- (it ends: its id is remembered for its window); an in-flight job gets a
-- cancel request (its next settle, or the reaper, deletes it).
-- KEYS[1..11] the topic's keys
-- ARGV[1]     now override in ms ('' = server TIME)
-- ARGV[2..]   job ids
-- returns     per id 1 (cancelled), 2 (requested), 0 (no such job)
-- writes      jobs, errors, ready, scheduled, cancel, done
local now_arg = arg_now(1)
local S = topic_keys(1)
local now = now_ms(now_arg)
local out = {}
for i = 2, #ARGV do
  local id = ARGV[i]
  local m = load(S, id)
  if not m then
    out[#out + 1] = 0
  elseif m.state == 'f' then
    redis.call('SADD', S.cancel, id)
    out[#out + 1] = 2
  else
    unlink(S, id, m)
    finish(S, id, m, now)
    out[#out + 1] = 1
  end
end
return out
