-- claim: lease up to max_jobs due jobs, best first. First reaps expired
-- leases (as reap.lua) and promotes due scheduled jobs (at most
-- promote_limit), then claims within the topic's limits; re-arms notify
-- when claimable work remains.
-- KEYS[1..11]  the topic's keys; KEYS[12..22] its dead-letter topic's keys
-- KEYS[23]     the family's fencing counter
-- KEYS[24]     claim cache of this request (STRING, expires)
-- ARGV[1]     now override in ms ('' = server TIME)
-- ARGV[2]     request id; lease tokens are '<request id>.<n>'
-- ARGV[3]     max_jobs
-- ARGV[4]     lease in ms
-- ARGV[5]     reap limit
-- ARGV[6]     promote limit
-- ARGV[7]     claim cache ttl in ms
-- returns     {jobs, hint}: jobs a flat list: id, meta, headers .. payload,
--             last error (false) per job; hint {} while claimable jobs
--             remain, else {now, earliest scheduled due time or -1,
--             earliest deadline or -1, next rate slot or -1}.
-- writes      both topics' keys (reap, promotion), the fencing counter,
--             the claim cache
-- A re-sent call (same request id) finds the cache and returns the jobs the
-- first run leased that it still holds, instead of leasing more.
local now_arg = arg_now(1)
local want = arg_int(3, 0, 100000)
local lease = arg_int(4, 0, MAX_MS)
local reap_limit = arg_int(5, 0, 100000)
local promote_limit = arg_int(6, 0, 100000)
local ttl = arg_int(7, 1, MAX_MS)
local jobs, hint = claim_jobs(
  topic_keys(1), topic_keys(BLOCK + 1), KEYS[2 * BLOCK + 1], KEYS[2 * BLOCK + 2], now_arg,
  ARGV[2], want, lease, reap_limit, promote_limit, ttl
)
return {jobs, hint}
