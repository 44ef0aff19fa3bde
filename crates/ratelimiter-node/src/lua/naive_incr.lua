-- Teaching mode `naive`, second call: counts an admitted request, as the node decided it from
-- what naive_read.lua read earlier (possibly stale by now: nothing is checked again). Like INCR,
-- the increment itself loses nothing; what is not atomic is the check before it.
--
-- KEYS[i]     counter hash of window i
-- ARGV[1]     cost
-- ARGV[2i]    the fixed-window index the node decided window i in
-- ARGV[2i+1]  length of window i in ms
--
-- Every key written gets its PEXPIRE in this same call (2 windows, as check.lua).
local cost = tonumber(ARGV[1])
for i = 1, #KEYS do
  local idx = tonumber(ARGV[2 * i])
  local win = tonumber(ARGV[2 * i + 1])
  local h = redis.call('HMGET', KEYS[i], 'w', 'c')
  local stored = tonumber(h[1])
  if stored ~= nil and stored >= idx then
    -- The window is current (or a later one already began): add to it.
    redis.call('HINCRBY', KEYS[i], 'c', cost)
  else
    -- A new fixed window: the old count becomes the previous one when it is the window before.
    local p = 0
    if stored == idx - 1 then p = tonumber(h[2]) or 0 end
    redis.call('HSET', KEYS[i], 'w', string.format('%d', idx), 'c', string.format('%d', cost),
      'p', string.format('%d', p))
  end
  redis.call('PEXPIRE', KEYS[i], 2 * win)
end
return 1
