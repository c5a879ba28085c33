-- holder: a nick as its holder shows it, if a live process holds it.
--
-- ARGV: prefix, nick key
local value = redis.call('HGET', p .. 'nicks', ARGV[2])
if not value then
  return false
end
local deadline = redis.call('ZSCORE', p .. 'procs', holder_of(value))
if deadline == false or tonumber(deadline) < now_ms() then
  return false
end
return nick_of(value)
