-- rooms: the number of rooms (with members or history) and the busiest `limit`: most members
-- first, then by name, as one process lists them.
--
-- ARGV: prefix, limit
local limit = tonumber(ARGV[2])
local rooms = p .. 'rooms'
local total = redis.call('ZCARD', rooms)
local top = redis.call('ZREVRANGE', rooms, 0, limit - 1, 'WITHSCORES')
local out = {}
if #top == 0 then
  return {total, out}
end
local low = top[#top]
for i = 1, #top, 2 do
  if tonumber(top[i + 1]) > tonumber(low) then
    out[#out + 1] = top[i]
    out[#out + 1] = top[i + 1]
  end
end
-- Rooms with as many members as the last one: the first by name (one score sorts by name).
for _, name in ipairs(redis.call('ZRANGEBYSCORE', rooms, low, low, 'LIMIT', 0, limit - #out / 2)) do
  out[#out + 1] = name
  out[#out + 1] = low
end
return {total, out}
