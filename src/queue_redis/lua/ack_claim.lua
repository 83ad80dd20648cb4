-- ack_claim: ack.lua then claim.lua in one call (the runtime settles
-- finished jobs and fetches their successors with it).
-- KEYS        as claim.lua
-- ARGV[1..7]  as claim.lua
-- ARGV[8..]   pairs: job id, lease token (as ack.lua)
-- returns     {ack.lua's reply, claim.lua's jobs, claim.lua's hint}
local S = topic_keys(1)
local settled = ack_pairs(S, 8)
local jobs, hint = claim_jobs(
  S, topic_keys(8), KEYS[15], ARGV[1], ARGV[2], tonumber(ARGV[3]),
  tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
)
return {settled, jobs, hint}
