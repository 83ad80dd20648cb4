-- get: jobs by id as they are now (read only).
-- KEYS[1..11] the topic's keys
-- ARGV        job ids
-- returns     flat list: id, meta, headers .. payload, last error (false)
--             per job found
local S = topic_keys(1)
local out = {}
for _, id in ipairs(ARGV) do
  local m = load(S, id)
  if m then job_reply(out, S, id, m) end
end
return out
