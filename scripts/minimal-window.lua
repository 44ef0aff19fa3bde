-- The reference of "what Redis can do" for one rate-limit decision (issue 13): a minimal
-- sliding-window counter. Driven by scripts/exact-path-bench.sh through redis-benchmark.
--
-- KEYS[1]  the current window's counter (a string holding an integer)
-- KEYS[2]  the previous window's counter
-- ARGV[1]  the window, in ms
--
-- TIME, INCR of the current counter with PEXPIRE on its first use, GET of the previous one;
-- returns {current, previous, estimate}. (redis-benchmark draws each __rand_int__ on its own,
-- so the two keys it sends are two counters among the same 10,000: on one Redis the cost is
-- that of the real pair.)
local t = redis.call('TIME')
local win = tonumber(ARGV[1])
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local c = redis.call('INCR', KEYS[1])
if c == 1 then
  redis.call('PEXPIRE', KEYS[1], 2 * win)
end
local p = tonumber(redis.call('GET', KEYS[2]) or '0') or 0
local elapsed = now % win
return {c, p, math.floor(p * (win - elapsed) / win + c)}
