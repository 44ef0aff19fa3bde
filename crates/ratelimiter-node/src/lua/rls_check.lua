-- The descriptors of one ShouldRateLimit request, checked together and consumed atomically:
-- when any descriptor that is not in shadow mode is over its limit, nothing is consumed.
-- The sliding-window arithmetic is check.lua's (and algorithm.rs's), per window.
-- Only in single-Redis mode: the descriptors' keys have different hash tags.
--
-- KEYS           the counter hashes of every window, group (descriptor) by group
-- ARGV[1]        cost (>= 1)
-- ARGV[2]        number of groups g
-- then per group: n (its windows), shadow ('1' or '0'), then n pairs (limit, window_ms)
--
-- Returns {consumed (1/0), redis_now_ms, then per group: over (1/0), reported window (1-based),
--          retry_after_ms, remaining_1, reset_after_ms_1, ..., remaining_n, reset_after_ms_n}.
-- A group over its limit is never consumed (shadow or not). Every key written gets its PEXPIRE
-- in this same call.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cost = tonumber(ARGV[1])
local g = tonumber(ARGV[2])
local groups = {}
local a, k = 3, 1
local blocked = false

for gi = 1, g do
  local n = tonumber(ARGV[a])
  local grp = {n = n, shadow = ARGV[a + 1] == '1', over = false, worst = 1, worst_wait = -1, w = {}}
  a = a + 2
  for i = 1, n do
    local limit = tonumber(ARGV[a])
    local win = tonumber(ARGV[a + 1])
    a = a + 2
    local key = KEYS[k]
    k = k + 1
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
    local u = p * (win - elapsed) / win + c
    grp.w[i] = {key = key, limit = limit, win = win, idx = w, c = c, p = p, used = u, reset = win - elapsed}
    if u + cost > limit then
      grp.over = true
      local wait
      if c + cost > limit and c > 0 then
        wait = (win - elapsed) + math.ceil(win * (c + cost - limit) / c)
      elseif c + cost > limit then
        wait = (win - elapsed) + win
      else
        wait = math.ceil(win - (limit - c - cost) * win / p - elapsed)
      end
      if wait < 1 then wait = 1 end
      if wait > grp.worst_wait then grp.worst, grp.worst_wait = i, wait end
    end
  end
  if grp.over and not grp.shadow then blocked = true end
  groups[gi] = grp
end

local out = {blocked and 0 or 1, now}
for gi = 1, g do
  local grp = groups[gi]
  local consume = (not blocked) and (not grp.over)
  local rems, best, best_rem = {}, 1, nil
  for i = 1, grp.n do
    local x = grp.w[i]
    local rem
    if consume then
      redis.call('HSET', x.key, 'w', string.format('%d', x.idx), 'c', string.format('%d', x.c + cost),
        'p', string.format('%d', x.p))
      redis.call('PEXPIRE', x.key, 2 * x.win)
      rem = math.floor(x.limit - x.used - cost)
    else
      rem = math.floor(x.limit - x.used)
    end
    if rem < 0 then rem = 0 end
    if best_rem == nil or rem < best_rem then best, best_rem = i, rem end
    rems[i] = rem
  end
  if grp.over then
    out[#out + 1], out[#out + 2], out[#out + 3] = 1, grp.worst, grp.worst_wait
  else
    out[#out + 1], out[#out + 2], out[#out + 3] = 0, best, 0
  end
  for i = 1, grp.n do
    out[#out + 1] = rems[i]
    out[#out + 1] = grp.w[i].reset
  end
end
return out
