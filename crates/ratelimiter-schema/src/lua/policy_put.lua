-- Stores one policy and bumps the version in the same atomic call.
-- KEYS[1] policies hash; ARGV[1] field (policy:<name>); ARGV[2] spec JSON; ARGV[3] TTL ms.
-- Returns the new version, or -1 when the hash does not exist (Redis came back empty: the
-- caller seeds the full set first, so one PUT never leaves a set of one policy).
if redis.call('EXISTS', KEYS[1]) == 0 then
  return -1
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
local v = redis.call('HINCRBY', KEYS[1], 'version', 1)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return v
