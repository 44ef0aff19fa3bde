-- A decision that may also lease: the sliding-window check of check.lua over every window of one
-- policy, and when the request is admitted, up to ARGV[2] units counted at once (the request's
-- cost plus a lease the node spends locally until this fixed window ends). Same key layout as
-- check.lua (ratelimiter_schema::keys, hash fields w, c, p).
--
-- KEYS[i]        counter hash of window i (all keys share one hash tag, so one slot)
-- ARGV[1]        cost of the request (>= 1)
-- ARGV[2]        units wanted (>= cost): cost + the lease asked for
-- ARGV[2i+1]     limit of window i
-- ARGV[2i+2]     length of window i in ms
-- ARGV[2n+3]     optional: '1' while the memory guard is on (as in check.lua: answer {-1} and
--                create nothing for a key with no counter yet)
--
-- Returns {allowed (1/0), reported window (1-based), retry_after_ms, redis_now_ms, granted,
--          then per window: remaining, reset_after_ms, w, c, p}
-- where granted (>= cost when allowed, 0 when denied) is what was added to c of every window,
-- remaining is what is left after it, and (w, c, p) the counter as it stands after the call,
-- seen from the current window (so a denial can be re-decided in the node for any cost).
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cost = tonumber(ARGV[1])
local want = tonumber(ARGV[2])
local n = #KEYS
if ARGV[2 * n + 3] == '1' and redis.call('EXISTS', unpack(KEYS)) == 0 then
  return {-1}
end
local idx, cur, prev, used, reset = {}, {}, {}, {}, {}
local denied, worst, worst_wait = false, 0, -1
local room = want

for i = 1, n do
  local limit = tonumber(ARGV[2 * i + 1])
  local win = tonumber(ARGV[2 * i + 2])
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
      wait = (win - elapsed) + math.ceil(win * (c + cost - limit) / c)
    elseif c + cost > limit then
      wait = (win - elapsed) + win
    else
      wait = math.ceil(win - (limit - c - cost) * win / p - elapsed)
    end
    if wait < 1 then wait = 1 end
    if wait > worst_wait then worst, worst_wait = i, wait end
  else
    -- The most this window lets through now (never below cost: u + cost <= limit).
    local r = math.floor(limit - u)
    while r > cost and u + r > limit do r = r - 1 end
    if r < room then room = r end
  end
end

local out = {0, 0, 0, now, 0}
if denied then
  out[2], out[3] = worst, worst_wait
  for i = 1, n do
    local rem = math.floor(tonumber(ARGV[2 * i + 1]) - used[i])
    if rem < 0 then rem = 0 end
    local b = 5 * i
    out[b + 1], out[b + 2], out[b + 3], out[b + 4], out[b + 5] = rem, reset[i], idx[i], cur[i], prev[i]
  end
  return out
end

local grant = room
if grant < cost then grant = cost end
local best, best_rem = 1, nil
for i = 1, n do
  local limit = tonumber(ARGV[2 * i + 1])
  local win = tonumber(ARGV[2 * i + 2])
  local c = cur[i] + grant
  redis.call('HSET', KEYS[i], 'w', string.format('%d', idx[i]), 'c', string.format('%d', c),
    'p', string.format('%d', prev[i]))
  redis.call('PEXPIRE', KEYS[i], 2 * win)
  local rem = math.floor(limit - used[i] - grant)
  if rem < 0 then rem = 0 end
  if best_rem == nil or rem < best_rem then best, best_rem = i, rem end
  local b = 5 * i
  out[b + 1], out[b + 2], out[b + 3], out[b + 4], out[b + 5] = rem, reset[i], idx[i], c, prev[i]
end
out[1], out[2], out[5] = 1, best, grant
return out
