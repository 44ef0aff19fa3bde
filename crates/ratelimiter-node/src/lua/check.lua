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
-- ARGV[2n+3]     optional, one-window policies only: k >= 1 requests of this same cost decided
--                one after the other in this call (concurrent decisions of one key coalesced by
--                the node); the reply then carries, in place of allowed, how many were admitted
--                (the first ones), and in place of remaining, the room before the first
--                (floor(limit - estimate)): the node derives each request's own answer, the one
--                it would have got alone at this instant
--
-- Returns {allowed (1/0), reported window (1-based), retry_after_ms, redis_now_ms,
--          remaining_1, reset_after_ms_1, ..., remaining_n, reset_after_ms_n}.
-- Time comes from Redis TIME only. Every key written has a TTL: the first write of each window
-- (a new key, or one whose stored window is older) sets w, c, p and PEXPIRE 2 × window, which
-- keeps the key past the end of the next window, as long as it can be read as the previous
-- one; later writes in the same window only add to c (HINCRBY keeps the TTL). So an admitted
-- decision costs TIME, HMGET and HINCRBY per window in the steady state.
--
-- A one-window policy (the common case) takes a path without per-window tables: the same
-- arithmetic (state, wait, write) for less of Redis's time per call (docs/BENCHMARKS.md, "Near
-- cache and the exact path").
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cost = tonumber(ARGV[1])
local n = #KEYS
if ARGV[2 * n + 2] == '1' and redis.call('EXISTS', unpack(KEYS)) == 0 then
  return {-1}
end
-- The state of one window at `now`: its index, the counts of this and the previous window,
-- the estimate, the ms left in the window, and whether the stored window is the current one.
local function state(key, limit, win)
  local w = math.floor(now / win)
  local h = redis.call('HMGET', key, 'w', 'c', 'p')
  local stored = tonumber(h[1])
  local c, p = 0, 0
  if stored == w then
    c = tonumber(h[2]) or 0
    p = tonumber(h[3]) or 0
  elseif stored == w - 1 then
    p = tonumber(h[2]) or 0
  end
  local elapsed = now - w * win
  return w, c, p, p * (win - elapsed) / win + c, win - elapsed, stored == w
end

-- How long until `cost` fits in a window where it does not fit now.
local function wait_for(c, p, limit, win, left)
  local wait
  if c + cost > limit and c > 0 then
    -- Not before the next window, and then until this window's count has decayed enough.
    wait = left + math.ceil(win * (c + cost - limit) / c)
  elseif c + cost > limit then
    wait = left + win
  else
    -- Later in this window, once the previous window's weight has decayed enough.
    wait = math.ceil(win - (limit - c - cost) * win / p - (win - left))
  end
  if wait < 1 then wait = 1 end
  return wait
end

-- Counts `amount` (a string, as Redis takes it: ARGV[1] for one request) in one window (see
-- the TTL rule above).
local function consume(key, w, c, p, win, same, amount)
  if same then
    redis.call('HINCRBY', key, 'c', amount)
  else
    redis.call('HSET', key, 'w', string.format('%d', w), 'c', string.format('%d', c + tonumber(amount)),
      'p', string.format('%d', p))
    redis.call('PEXPIRE', key, 2 * win)
  end
end

local k = tonumber(ARGV[2 * n + 3] or '1')
if n == 1 and k > 1 then
  -- Request j (1-based) fits alone after the j - 1 before it iff u + j * cost <= limit.
  local limit, win = tonumber(ARGV[2]), tonumber(ARGV[3])
  local w, c, p, u, left, same = state(KEYS[1], limit, win)
  local admitted = math.floor((limit - u) / cost)
  if admitted < 0 then admitted = 0 end
  if admitted > k then admitted = k end
  -- The same comparison as one request alone, whatever the rounding of the division.
  while admitted > 0 and u + admitted * cost > limit do admitted = admitted - 1 end
  while admitted < k and u + (admitted + 1) * cost <= limit do admitted = admitted + 1 end
  local wait = 0
  if admitted > 0 then
    consume(KEYS[1], w, c, p, win, same, string.format('%d', admitted * cost))
  end
  if admitted < k then
    wait = wait_for(c + admitted * cost, p, limit, win, left)
  end
  return {admitted, 1, wait, now, math.floor(limit - u), left}
end

if n == 1 then
  local limit, win = tonumber(ARGV[2]), tonumber(ARGV[3])
  local w, c, p, u, left, same = state(KEYS[1], limit, win)
  if u + cost > limit then
    local rem = math.floor(limit - u)
    if rem < 0 then rem = 0 end
    return {0, 1, wait_for(c, p, limit, win, left), now, rem, left}
  end
  consume(KEYS[1], w, c, p, win, same, ARGV[1])
  local rem = math.floor(limit - u - cost)
  if rem < 0 then rem = 0 end
  return {1, 1, 0, now, rem, left}
end

local idx, cur, prev, used, reset, same = {}, {}, {}, {}, {}, {}
local denied, worst, worst_wait = false, 0, -1
for i = 1, n do
  local limit = tonumber(ARGV[2 * i])
  local win = tonumber(ARGV[2 * i + 1])
  idx[i], cur[i], prev[i], used[i], reset[i], same[i] = state(KEYS[i], limit, win)
  if used[i] + cost > limit then
    denied = true
    local wait = wait_for(cur[i], prev[i], limit, win, reset[i])
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
  consume(KEYS[i], idx[i], cur[i], prev[i], tonumber(ARGV[2 * i + 1]), same[i], ARGV[1])
  local rem = math.floor(limit - used[i] - cost)
  if rem < 0 then rem = 0 end
  if best_rem == nil or rem < best_rem then best, best_rem = i, rem end
  out[3 + 2 * i], out[4 + 2 * i] = rem, reset[i]
end
out[1], out[2] = 1, best
return out
