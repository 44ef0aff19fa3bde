-- One rate-limit decision under GCRA (a token bucket kept as one theoretical arrival time per
-- window), every window of one policy checked and consumed atomically. Key layout:
-- ratelimiter_schema::keys (the bucket hash, one tat field per window, Unix µs of Redis TIME).
-- The arithmetic is crate::gcra's, which tests it.
--
-- KEYS[1]        the bucket hash of (user key, policy)
-- ARGV[1]        cost of the request (>= 1)
-- ARGV[3i-1]     field of window i (its window_ms)
-- ARGV[3i]       emission interval T of window i, µs (>= 1)
-- ARGV[3i+1]     tau = burst × T of window i, µs
-- ARGV[3n+2]     optional: '1' while the memory guard is on: a key with no bucket yet is not
--                created, the script answers {-1} ("absent") and the node decides in process
--
-- Returns what check.lua returns: {allowed (1/0), reported window (1-based), retry_after_ms,
-- redis_now_ms, remaining_1, reset_after_ms_1, ..., remaining_n, reset_after_ms_n}, where
-- remaining is the whole units left in the bucket and reset_after the ms until it is full.
-- Time comes from Redis TIME only. The key gets its PEXPIRE in the same call: the time until
-- the bucket is full again (then its state is worth nothing), at least 1 ms.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local cost = tonumber(ARGV[1])
local n = math.floor((#ARGV - 1) / 3)
local key = KEYS[1]
if ARGV[3 * n + 2] == '1' and redis.call('EXISTS', key) == 0 then
  return {-1}
end

-- Integer division of non-negative integers below 2^53, exact (a double quotient may round up
-- to the next integer).
local function idiv(a, b)
  local q = math.floor(a / b)
  if q * b > a then
    q = q - 1
  elseif (q + 1) * b <= a then
    q = q + 1
  end
  return q
end
local function ms_up(us) return idiv(us + 999, 1000) end

local fields = {}
for i = 1, n do fields[i] = ARGV[3 * i - 1] end
local h = redis.call('HMGET', key, unpack(fields))
local T, tau, base, nxt = {}, {}, {}, {}
local denied, worst, worst_wait = false, 0, -1
for i = 1, n do
  T[i] = tonumber(ARGV[3 * i])
  tau[i] = tonumber(ARGV[3 * i + 1])
  local tat = tonumber(h[i]) or 0
  if tat < now then tat = now end
  base[i] = tat
  nxt[i] = tat + cost * T[i]
  if nxt[i] - now > tau[i] then
    denied = true
    local wait = ms_up(nxt[i] - tau[i] - now)
    if wait < 1 then wait = 1 end
    if wait > worst_wait then worst, worst_wait = i, wait end
  end
end

local function left(i, tat)
  local rem = tau[i] - (tat - now)
  if rem < 0 then rem = 0 end
  return idiv(rem, T[i]), ms_up(tat - now)
end

local out = {0, 0, 0, idiv(now, 1000)}
if denied then
  out[2], out[3] = worst, worst_wait
  for i = 1, n do
    out[3 + 2 * i], out[4 + 2 * i] = left(i, base[i])
  end
  return out
end

local args, ttl, best, best_rem = {}, 1, 1, nil
for i = 1, n do
  args[2 * i - 1], args[2 * i] = fields[i], string.format('%d', nxt[i])
  local rem, full = left(i, nxt[i])
  if best_rem == nil or rem < best_rem then best, best_rem = i, rem end
  if full > ttl then ttl = full end
  out[3 + 2 * i], out[4 + 2 * i] = rem, full
end
redis.call('HSET', key, unpack(args))
redis.call('PEXPIRE', key, ttl)
out[1], out[2] = 1, best
return out
