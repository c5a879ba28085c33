-- leave: a process that stops clears itself at once (its members, rooms and nicks).
--
-- ARGV: prefix, proc
-- Returns {room, nick, ...} of its members still entered
local gone = {}
remove_process(ARGV[2], gone)
return gone
