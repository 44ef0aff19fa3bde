-- Seeds the policy set when Redis has none (first start, or Redis restarted empty).
-- KEYS[1] policies hash; ARGV[1] TTL ms; ARGV[2] lowest acceptable version (one above the
-- highest this node has seen); ARGV[3..] field, spec JSON pairs.
-- The version starts at max(ARGV[2], Redis time in ms), so it only ever increases, also across a
-- Redis restart that lost it (every change adds 1, far fewer than the milliseconds between).
-- Returns 1 when seeded, 0 when another node got there first.
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
return 1
