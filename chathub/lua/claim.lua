-- claim: make a nick this process's, unless another process holds it.
--
-- Candidates are tried in order (the nick asked for, then guest nicks); the first that nobody
-- else holds is granted: it enters the nick table, `old` (a nick key, or '') leaves it, and in
-- each of `rooms` the member entry of `old` becomes the new nick's. Nothing changes when no
-- candidate is free.
--
-- ARGV: prefix, proc, old, n, (key, nick) * n, room count, room * count
-- Returns {the candidate granted (1..n, 0: none), the holder of the first when refused}
local proc, old = ARGV[2], ARGV[3]
local n = tonumber(ARGV[4])
local nicks = p .. 'nicks'
local granted, refused_by = 0, ''
for i = 1, n do
  local holder = redis.call('HGET', nicks, ARGV[3 + 2 * i])
  if not holder or holder_of(holder) == proc then
    granted = i
    break
  end
  if i == 1 then
    refused_by = nick_of(holder)
  end
end
if granted == 0 then
  return {0, refused_by}
end
local key, nick = ARGV[3 + 2 * granted], ARGV[4 + 2 * granted]
local value = proc .. '\t' .. nick
redis.call('HSET', nicks, key, value)
redis.call('SADD', p .. 'proc:' .. proc .. ':nicks', key)
local renamed = old ~= '' and old ~= key
if renamed then
  if held_by(redis.call('HGET', nicks, old), proc) then
    redis.call('HDEL', nicks, old)
  end
  redis.call('SREM', p .. 'proc:' .. proc .. ':nicks', old)
end
local at = 5 + 2 * n
for i = 1, tonumber(ARGV[at]) do
  local room = ARGV[at + i]
  local members = p .. 'room:' .. room .. ':members'
  local moved = false
  if renamed and held_by(redis.call('HGET', members, old), proc) then
    redis.call('HDEL', members, old)
    moved = true
  end
  if redis.call('HSET', members, key, value) == 1 and not moved then
    member_joined(room)
  end
end
return {granted, refused_by}
