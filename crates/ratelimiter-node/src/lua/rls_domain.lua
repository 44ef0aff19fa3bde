-- Replaces the policies of one envoy configuration domain (every field of the policies hash
-- whose name starts with ARGV[2]) by ARGV[3..], atomically with the version bump, and only when
-- something differs: nodes loading the same content write nothing (no version churn).
--
-- KEYS[1]   the policies hash (ratelimiter_schema::keys::policies_key)
-- ARGV[1]   its TTL in ms (LONG_TTL_MS, refreshed by every write)
-- ARGV[2]   the field prefix of the domain ('policy:rls-<slug>-<hash>-')
-- ARGV[3..] pairs (field, policy JSON)
--
-- Returns -1 when the hash does not exist (seed it first), 0 when nothing changed, else the
-- new version.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return -1
end
local want = {}
for i = 3, #ARGV, 2 do
  want[ARGV[i]] = ARGV[i + 1]
end
local prefix = ARGV[2]
local plen = #prefix
local have = {}
local all = redis.call('HGETALL', KEYS[1])
local changed = false
for i = 1, #all, 2 do
  local f = all[i]
  if string.sub(f, 1, plen) == prefix then
    if want[f] == nil then
      redis.call('HDEL', KEYS[1], f)
      changed = true
    else
      have[f] = all[i + 1]
    end
  end
end
for f, json in pairs(want) do
  if have[f] ~= json then
    redis.call('HSET', KEYS[1], f, json)
    changed = true
  end
end
if not changed then
  return 0
end
local v = redis.call('HINCRBY', KEYS[1], 'version', 1)
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return v
