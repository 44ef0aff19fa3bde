-- The abuse guard of one request to a protected endpoint: is the client blocked, and, for a
-- request with an API key, does this key take it past the enumeration limit?
-- Key layout: ratelimiter_schema::keys (abuse:b and abuse:k share the client's hash tag).
--
-- KEYS[1]   the client's block key (a string; exists while the client is blocked)
-- KEYS[2]   the client's HyperLogLog of API key fingerprints for the current minute
-- ARGV[1]   'count' (add ARGV[2] to the HLL), 'honeypot' (block at once) or 'check' (block only)
-- ARGV[2]   fingerprint of the API key ('' for 'check')
-- ARGV[3]   enumeration limit (distinct keys per minute; 0: never block for enumeration)
-- ARGV[4]   block duration in ms
-- ARGV[5]   TTL of the HyperLogLog in ms
--
-- Returns {state, ttl_ms, distinct_keys, redis_now_ms}: state 0 = not blocked, 1 = already
-- blocked (ttl_ms left), 2 = blocked by this call (ttl_ms = the block). distinct_keys is -1 when
-- not counted (the key was already in the HLL, or not a 'count' call).
-- Every key written gets its expiry in this same call.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = redis.call('PTTL', KEYS[1])
if ttl > 0 then
  return {1, ttl, -1, now}
end
local block_ms = tonumber(ARGV[4])
if ARGV[1] == 'honeypot' then
  redis.call('SET', KEYS[1], 'honeypot', 'PX', block_ms)
  return {2, block_ms, -1, now}
end
if ARGV[1] ~= 'count' then
  return {0, 0, -1, now}
end
if redis.call('PFADD', KEYS[2], ARGV[2]) == 0 then
  return {0, 0, -1, now}
end
redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[5]))
local n = redis.call('PFCOUNT', KEYS[2])
local limit = tonumber(ARGV[3])
if limit > 0 and n > limit then
  redis.call('SET', KEYS[1], 'enumeration', 'PX', block_ms)
  return {2, block_ms, n, now}
end
return {0, 0, n, now}
