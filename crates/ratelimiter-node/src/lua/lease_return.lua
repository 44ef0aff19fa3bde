-- Gives back the unspent part of a lease (lease.lua): subtracts ARGV[1] from c of every window
-- whose counter is still in the fixed window the lease was taken in (ARGV[i+1] = that window's
-- index w), never below 0. A window that has moved on keeps its count (the lease ended with it).
-- Writes nothing to a key that no longer exists, so every TTL stays as lease.lua set it.
--
-- KEYS[i]        counter hash of window i (one hash tag)
-- ARGV[1]        units to give back
-- ARGV[i+1]      the window index w of KEYS[i] when the lease was taken
--
-- Returns the number of windows given back to.
local amount = tonumber(ARGV[1])
local done = 0
for i = 1, #KEYS do
  local h = redis.call('HMGET', KEYS[i], 'w', 'c')
  if h[1] and tonumber(h[1]) == tonumber(ARGV[i + 1]) then
    local c = (tonumber(h[2]) or 0) - amount
    if c < 0 then c = 0 end
    redis.call('HSET', KEYS[i], 'c', string.format('%d', c))
    done = done + 1
  end
end
return done
