-- claim: lease up to max_jobs due jobs, best first. First reaps expired
-- leases (as reap.lua) and promotes due scheduled jobs (at most
-- promote_limit), then claims; re-arms notify when ready work remains.
-- KEYS[1..7]  the topic's keys; KEYS[8..14] its dead-letter topic's keys
-- KEYS[15]    claim cache of this request (STRING, expires)
-- ARGV[1]     now override in ms ('' = server TIME)
-- ARGV[2]     request id; lease tokens are '<request id>.<n>'
-- ARGV[3]     max_jobs
-- ARGV[4]     lease in ms
-- ARGV[5]     reap limit
-- ARGV[6]     promote limit
-- ARGV[7]     claim cache ttl in ms
-- returns     {jobs, hint}: jobs a flat list: id, meta, payload, last error
--             (false) per job; hint {} while ready jobs remain, else {now,
--             earliest scheduled due time or -1, earliest deadline or -1}.
-- A re-sent call (same request id) finds the cache and returns the jobs the
-- first run leased that it still holds, instead of leasing more.
local jobs, hint = claim_jobs(
  topic_keys(1), topic_keys(8), KEYS[15], ARGV[1], ARGV[2], tonumber(ARGV[3]),
  tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
)
return {jobs, hint}
