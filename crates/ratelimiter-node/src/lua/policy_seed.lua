-- Seeds the policy set when Redis has none (first start, or Redis restarted empty).
-- KEYS[1] policies hash; ARGV[1] TTL ms; ARGV[2] version to start at (one above the highest a
-- node has seen, so versions never go back); ARGV[3..] field, spec JSON pairs.
-- Returns 1 when seeded, 0 when another node got there first.
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
for i = 3, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
end
redis.call('HSET', KEYS[1], 'version', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
