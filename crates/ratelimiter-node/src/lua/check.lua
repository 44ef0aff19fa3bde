-- One rate-limit decision: a sliding-window counter over every window of one policy, checked
-- and consumed atomically. Key layout: ratelimiter_schema::keys (hash fields w, c, p).
--
-- KEYS[i]        counter hash of window i (all keys share one hash tag, so one slot)
-- ARGV[1]        cost of the request (>= 1)
-- ARGV[2i]       limit of window i
-- ARGV[2i+1]     length of window i in ms
-- ARGV[2n+2]     optional: '1' while the memory guard is on: a key with no counter yet is not
--                created (Redis is near maxmemory), the script answers {-1} ("absent") and the
--                node decides it in process
--
-- Returns {allowed (1/0), reported window (1-based), retry_after_ms, redis_now_ms,
--          remaining_1, reset_after_ms_1, ..., remaining_n, reset_after_ms_n}.
-- Time comes from Redis TIME only. Every key written gets its PEXPIRE in this same call.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cost = tonumber(ARGV[1])
local n = #KEYS
if ARGV[2 * n + 2] == '1' and redis.call('EXISTS', unpack(KEYS)) == 0 then
  return {-1}
end
local idx, cur, prev, used, reset = {}, {}, {}, {}, {}
local denied, worst, worst_wait = false, 0, -1

for i = 1, n do
  local limit = tonumber(ARGV[2 * i])
  local win = tonumber(ARGV[2 * i + 1])
  local w = math.floor(now / win)
  local h = redis.call('HMGET', KEYS[i], 'w', 'c', 'p')
  local stored = tonumber(h[1])
  local c, p = 0, 0
  if stored == w then
    c = tonumber(h[2]) or 0
    p = tonumber(h[3]) or 0
  elseif stored == w - 1 then
    p = tonumber(h[2]) or 0
  end
  local elapsed = now - w * win
  local u = p * (win - elapsed) / win + c
  idx[i], cur[i], prev[i], used[i], reset[i] = w, c, p, u, win - elapsed
  if u + cost > limit then
    denied = true
    local wait
    if c + cost > limit and c > 0 then
      -- Not before the next window, and then until this window's count has decayed enough.
      wait = (win - elapsed) + math.ceil(win * (c + cost - limit) / c)
    elseif c + cost > limit then
      wait = (win - elapsed) + win
    else
      -- Later in this window, once the previous window's weight has decayed enough.
      wait = math.ceil(win - (limit - c - cost) * win / p - elapsed)
    end
    if wait < 1 then wait = 1 end
    if wait > worst_wait then worst, worst_wait = i, wait end
  end
end

local out = {0, 0, 0, now}
if denied then
  out[1], out[2], out[3] = 0, worst, worst_wait
  for i = 1, n do
    local rem = math.floor(tonumber(ARGV[2 * i]) - used[i])
    if rem < 0 then rem = 0 end
    out[3 + 2 * i], out[4 + 2 * i] = rem, reset[i]
  end
  return out
end

local best, best_rem = 1, nil
for i = 1, n do
  local limit = tonumber(ARGV[2 * i])
  local win = tonumber(ARGV[2 * i + 1])
  redis.call('HSET', KEYS[i], 'w', string.format('%d', idx[i]), 'c', string.format('%d', cur[i] + cost),
    'p', string.format('%d', prev[i]))
  redis.call('PEXPIRE', KEYS[i], 2 * win)
  local rem = math.floor(limit - used[i] - cost)
  if rem < 0 then rem = 0 end
  if best_rem == nil or rem < best_rem then best, best_rem = i, rem end
  out[3 + 2 * i], out[4 + 2 * i] = rem, reset[i]
end
out[1], out[2] = 1, best
return out
