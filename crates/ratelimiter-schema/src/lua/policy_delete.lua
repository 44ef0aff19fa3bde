-- Deletes one policy and bumps the version in the same atomic call.
-- KEYS[1] policies hash; ARGV[1] field (policy:<name>); ARGV[2] TTL ms.
-- Returns {removed (1/0), version}, or {-1, 0} when the hash does not exist.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {-1, 0}
end
local removed = redis.call('HDEL', KEYS[1], ARGV[1])
local v
if removed == 1 then
  v = redis.call('HINCRBY', KEYS[1], 'version', 1)
else
  v = tonumber(redis.call('HGET', KEYS[1], 'version')) or 0
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return {removed, v}
