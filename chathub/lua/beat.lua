-- beat: a process says it is alive for `ttl` more milliseconds, and clears a few processes
-- that stopped saying so (killed, cut off): their members leave (returned, to be announced
-- as parts), their nicks are free again. Whether this process was still known tells it if
-- it was cleared itself while cut off (it then writes its state again).
--
-- ARGV: prefix, proc, ttl, most to clear
-- Returns {1 if it was known, {room, nick, room, nick, ...} of the members cleared}
local proc, ttl, most = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local now = now_ms()
local known = redis.call('ZSCORE', p .. 'procs', proc)
redis.call('ZADD', p .. 'procs', now + ttl, proc)
local gone = {}
for _, dead in ipairs(redis.call('ZRANGEBYSCORE', p .. 'procs', '-inf', '(' .. now, 'LIMIT', 0, most)) do
  remove_process(dead, gone)
end
local was_known = 0
if known then
  was_known = 1
end
return {was_known, gone}
