-- Bumps the near caches' reset epoch (a counter was reset: every node drops its cached entries
-- when its policy poll sees the epoch change). KEYS[1] = ratelimiter_schema::keys::near_reset_key,
-- ARGV[1] = its TTL in ms (set in this same call, like every key).
local n = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return n
