-- redrive: move dead letters that are not in flight back to their source
-- topic: ready now, attempt 0, a new enqueued time and sequence; id,
-- headers, payload, priority, max attempts, idempotency window, last error
-- and fence kept (a move, not an end: no idempotency record). A dead letter
-- whose id exists in the source topic stays where it is.
-- KEYS[1..11]  the source topic's keys; KEYS[12..22] its dead-letter topic's
-- KEYS[23]     the family's fencing counter (unused)
-- ARGV[1]     now override in ms ('' = server TIME)
-- ARGV[2]     mode: 'ids' or 'scan'
-- mode ids:   ARGV[3..] job ids; moved in claim order of the dead-letter
--             topic (ready ones best first, then scheduled by due time)
-- mode scan:  ARGV[3] 'r' (dead ready) or 's' (dead scheduled), ARGV[4]
--             offset (entries skipped so far), ARGV[5] limit
-- returns     {moved, skipped, scanned}
local now_arg = arg_now(1)
if ARGV[2] == 'scan' then
  arg_int(4, 0, 2147483647)
  arg_int(5, 0, 100000)
elseif ARGV[2] ~= 'ids' then
  error('ERR queue_redis: redrive mode must be ids or scan')
end
local S = topic_keys(1)
local D = topic_keys(BLOCK + 1)
local now = now_ms(now_arg)
local moved, skipped = 0, 0

local function move(id, m)
  unlink(D, id, m)
  local err = redis.call('HGET', D.errors, id)
  forget(D, id)
  m.attempt = 0
  m.enqueued = now
  m.due = now
  m.seq = redis.call('INCR', S.seq)
  if err then redis.call('HSET', S.errors, id, err) end
  place(S, id, m, now)
  moved = moved + 1
end

local function movable(id, m)
  return m.state ~= 'f' and redis.call('HEXISTS', S.jobs, id) == 0
end

local scanned = 0
if ARGV[2] == 'ids' then
  local seen, jobs = {}, {}
  for i = 3, #ARGV do
    local id = ARGV[i]
    if not seen[id] then
      seen[id] = true
      local m = load(D, id)
      if m and movable(id, m) then
        m.id = id
        jobs[#jobs + 1] = m
      end
    end
  end
  table.sort(jobs, function(a, b)
    if a.state ~= b.state then return a.state == 'r' end
    if a.state == 'r' and a.prio ~= b.prio then return a.prio > b.prio end
    if a.due ~= b.due then return a.due < b.due end
    return a.seq < b.seq
  end)
  for _, m in ipairs(jobs) do
    local id = m.id
    m.id = nil
    move(id, m)
  end
  scanned = #ARGV - 2
else
  local key, cut = D.ready, READY_CUT
  if ARGV[3] == 's' then key, cut = D.scheduled, SEQ_CUT end
  local offset = tonumber(ARGV[4])
  local members = redis.call('ZRANGE', key, offset, offset + tonumber(ARGV[5]) - 1)
  for _, member in ipairs(members) do
    local id = string.sub(member, cut)
    local m = load(D, id)
    if m and movable(id, m) then move(id, m) else skipped = skipped + 1 end
  end
  scanned = #members
end
if moved > 0 then notify(S) end
return {moved, skipped, scanned}
