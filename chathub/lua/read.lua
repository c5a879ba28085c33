-- read: a room's history, as it is now (see amend). With `before` above 0, the newest `count`
-- entries below id `before` (newest first); else with `after` below 0, the newest `count`
-- entries (newest first); otherwise the first `count` entries after id `after` (oldest
-- first). Never older than the `keep` newest ids (MAXLEN trims about, not exactly). Also the
-- room's last id, so that the reader can join the answer up with what reached it on its
-- channel.
--
-- ARGV: prefix, room, after, count, keep, before
-- Returns {last id, entries}
local p, room = ARGV[1], ARGV[2]
local after, count, keep = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local before = tonumber(ARGV[6] or '0')
local top = tonumber(redis.call('GET', p .. 'room:' .. room .. ':id') or '0')
local log = p .. 'room:' .. room .. ':log'
local floor = top - keep
if floor < 0 then
  floor = 0
end
if count <= 0 or top == 0 then
  return {top, {}}
end
local asked = count + extra(p, room)
if after < 0 or before > 0 then
  local low = '-'
  if floor > 0 then
    low = '(' .. floor .. '-0'
  end
  local high = '+'
  if before > 0 then
    if before <= floor + 1 then
      return {top, {}}
    end
    high = '(' .. before .. '-0'
  end
  return {top, amend(p, room, redis.call('XREVRANGE', log, high, low, 'COUNT', asked), count)}
end
if after < floor then
  after = floor
end
return {top, amend(p, room, redis.call('XRANGE', log, '(' .. after .. '-0', '+', 'COUNT', asked), count)}
