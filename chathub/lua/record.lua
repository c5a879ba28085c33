-- record: keep a change to the records (accounts, log-ins, rooms' settings and roles, bans)
-- and send it to every other process, in one step.
--
-- ARGV: prefix, origin, op ('put' or 'del'), field, value, message
-- Returns 1
local p, origin = ARGV[1], ARGV[2]
if ARGV[3] == 'put' then
  redis.call('HSET', p .. 'records', ARGV[4], ARGV[5])
else
  redis.call('HDEL', p .. 'records', ARGV[4])
end
for _, proc in ipairs(redis.call('ZRANGE', p .. 'procs', 0, -1)) do
  if proc ~= origin then
    redis.call('PUBLISH', p .. 'proc:' .. proc, ARGV[6])
  end
end
return 1
