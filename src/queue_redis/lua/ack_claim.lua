-- ack_claim: ack.lua then claim.lua in one call (the runtime settles
-- finished jobs and fetches their successors with it).
-- KEYS        as claim.lua
-- ARGV[1..7]  as claim.lua
-- ARGV[8..]   pairs: job id, lease token (as ack.lua)
-- returns     {ack.lua's reply, claim.lua's jobs, claim.lua's hint}
local now_arg = arg_now(1)
local want = arg_int(3, 0, 100000)
local lease = arg_int(4, 0, MAX_MS)
local reap_limit = arg_int(5, 0, 100000)
local promote_limit = arg_int(6, 0, 100000)
local ttl = arg_int(7, 1, MAX_MS)
if (#ARGV - 7) % 2 ~= 0 then error('ERR queue_redis: ack_claim takes id, token pairs') end
local S = topic_keys(1)
local settled = ack_pairs(S, 8, now_arg)
local jobs, hint = claim_jobs(
  S, topic_keys(BLOCK + 1), KEYS[2 * BLOCK + 1], KEYS[2 * BLOCK + 2], now_arg, ARGV[2],
  want, lease, reap_limit, promote_limit, ttl
)
return {settled, jobs, hint}
