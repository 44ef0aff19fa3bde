-- Teaching mode `naive`, first call: reads each window's counter hash (the same keys and fields
-- w, c, p as check.lua) and Redis TIME, and writes nothing. The node then decides in Rust and,
-- when it admits, increments in a second call (naive_incr.lua): between the two calls other
-- requests read the same counts, which is the check-then-increment race this mode exists to show.
--
-- KEYS[i]   counter hash of window i (all keys share one hash tag, so one slot)
--
-- Returns {redis_now_ms, w_1, c_1, p_1, ..., w_n, c_n, p_n}, w_i = -1 for a key that does not exist.
local t = redis.call('TIME')
local out = {tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)}
for i = 1, #KEYS do
  local h = redis.call('HMGET', KEYS[i], 'w', 'c', 'p')
  out[3 * i - 1] = tonumber(h[1]) or -1
  out[3 * i] = tonumber(h[2]) or 0
  out[3 * i + 1] = tonumber(h[3]) or 0
end
return out
