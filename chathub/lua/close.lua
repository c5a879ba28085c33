-- close: a process no longer reads a room (it has nobody in it): its channel stops getting
-- the room's publications.
--
-- ARGV: prefix, proc, room * n
local p, proc = ARGV[1], ARGV[2]
for i = 3, #ARGV do
  redis.call('SREM', p .. 'room:' .. ARGV[i] .. ':procs', proc)
  redis.call('SREM', p .. 'proc:' .. proc .. ':rooms', ARGV[i])
end
return #ARGV - 2
