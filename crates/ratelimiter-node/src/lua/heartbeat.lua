-- Registers or refreshes one node in the registry, with times from Redis TIME.
-- KEYS[1] nodes hash; ARGV[1] node id; ARGV[2] address; ARGV[3] version;
-- ARGV[4] started_ms (0: this is the first heartbeat, use now); ARGV[5] TTL ms;
-- ARGV[6] forget nodes whose last heartbeat is older than this many ms.
-- Returns {now_ms, started_ms}.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local started = tonumber(ARGV[4])
if started == 0 then
  started = now
end
local record = string.format(
  '{"id":%s,"addr":%s,"version":%s,"started_ms":%d,"last_heartbeat_ms":%d}',
  cjson.encode(ARGV[1]), cjson.encode(ARGV[2]), cjson.encode(ARGV[3]), started, now)
redis.call('HSET', KEYS[1], ARGV[1], record)
local forget = tonumber(ARGV[6])
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local ok, rec = pcall(cjson.decode, all[i + 1])
  if (not ok) or type(rec) ~= 'table' or type(rec.last_heartbeat_ms) ~= 'number'
      or now - rec.last_heartbeat_ms > forget then
    redis.call('HDEL', KEYS[1], all[i])
  end
end
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return {now, started}
