-- Writes back a policy set when Redis has none, with the nodes' seeding rules, for
-- `reseed_policies` when no node can take the request.
-- KEYS[1] policies hash; ARGV[1] TTL ms; ARGV[2] lowest acceptable version (one above the last
-- seen); ARGV[3..] field, spec JSON pairs.
-- The version is at least Redis time in ms, as when a node seeds, so it only ever increases.
-- Returns the version written, or 0 when the hash exists (someone restored it meanwhile).
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local version = math.max(tonumber(ARGV[2]), now)
for i = 3, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
end
redis.call('HSET', KEYS[1], 'version', string.format('%d', version))
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return version
