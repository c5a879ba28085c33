-- open: a process reads a room from now on. In one step its channel gets every later
-- publication of the room, and it gets the room's last id and newest entries (newest first,
-- none older than the `keep` newest ids, as they are now: see amend), so that nothing falls
-- between and nothing comes twice.
--
-- ARGV: prefix, proc, room, hot, keep
-- Returns {last id, entries}
local p, proc, room = ARGV[1], ARGV[2], ARGV[3]
local hot, keep = tonumber(ARGV[4]), tonumber(ARGV[5])
redis.call('SADD', p .. 'room:' .. room .. ':procs', proc)
redis.call('SADD', p .. 'proc:' .. proc .. ':rooms', room)
local top = tonumber(redis.call('GET', p .. 'room:' .. room .. ':id') or '0')
local entries = {}
if top > 0 and hot > 0 then
  local low = '-'
  if top > keep then
    low = '(' .. (top - keep) .. '-0'
  end
  local log = p .. 'room:' .. room .. ':log'
  entries = redis.call('XREVRANGE', log, '+', low, 'COUNT', hot + extra(p, room))
  entries = amend(p, room, entries, hot)
end
return {top, entries}
