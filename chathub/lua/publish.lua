-- publish: the one step that gives a publication its ids, keeps it, and sends it everywhere.
--
-- The stored events of the publication (messages and actions, all of its first room) get the
-- room's next ids: above the room's counter, above what the room's stream holds (should the
-- counter be lost), and above `floor`, the highest id the publishing process has seen of the
-- room (should Redis have lost both), so an id is never given twice. They are appended to the
-- room's stream under their ids, trimmed to about `maxlen` entries (the counter is kept apart,
-- so trimming never lowers an id). Then the publication goes to the channel of every process
-- that has one of its rooms open, of every holder of one of its nicks, and of its origin: one
-- PUBLISH each, inside this script, so that every process's channel carries the scripts' order
-- and one room's publications reach every process in the order of their ids.
--
-- ARGV: prefix, origin, maxlen, floor, n, entry * n, room count, room * count,
--       nick count, nick key * count, payload
-- Returns the first id given (0 when nothing is stored).
local p, origin, maxlen = ARGV[1], ARGV[2], ARGV[3]
local floor, n = tonumber(ARGV[4]), tonumber(ARGV[5])
local at = 6 + n
local room_count = tonumber(ARGV[at])
local first = 0
if n > 0 then
  local room = ARGV[at + 1]
  local counter = p .. 'room:' .. room .. ':id'
  local log = p .. 'room:' .. room .. ':log'
  local last = tonumber(redis.call('GET', counter) or '-1')
  if last < 0 then
    last = 0
    local info = redis.pcall('XINFO', 'STREAM', log)
    if type(info) == 'table' and info.err == nil then
      for i = 1, #info, 2 do
        if info[i] == 'last-generated-id' then
          last = tonumber(string.match(info[i + 1], '^(%d+)'))
        end
      end
    end
  end
  if last < floor then
    last = floor
  end
  first = last + 1
  for i = 0, n - 1 do
    redis.call('XADD', log, 'MAXLEN', '~', maxlen, (first + i) .. '-0', 'e', ARGV[6 + i])
  end
  redis.call('SET', counter, last + n)
  if last == 0 then -- the room has history from now on: listed even with nobody in it
    redis.call('ZADD', p .. 'rooms', 'NX', 0, room)
    redis.call('ZADD', p .. 'names', 0, room)
  end
end
local targets = {[origin] = true}
for i = 1, room_count do
  for _, proc in ipairs(redis.call('SMEMBERS', p .. 'room:' .. ARGV[at + i] .. ':procs')) do
    targets[proc] = true
  end
end
at = at + room_count + 1
for i = 1, tonumber(ARGV[at]) do
  local holder = redis.call('HGET', p .. 'nicks', ARGV[at + i])
  if holder then
    targets[string.match(holder, '^[^\t]*')] = true
  end
end
local message = first .. ' ' .. ARGV[#ARGV]
for proc in pairs(targets) do
  redis.call('PUBLISH', p .. 'proc:' .. proc, message)
end
return first
