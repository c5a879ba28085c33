-- sync: after the backplane was away, a process writes its state again as it is now: its
-- nicks (one another process took meanwhile is a conflict: returned), and its members of one
-- room (entries it had that are gone are removed: returned, to be announced as parts).
--
-- ARGV: prefix, proc, room ('' for nicks only), n, (key, nick) * n
-- Returns {conflicting nick keys (nicks only), or members removed (a room)}
local proc, room, n = ARGV[2], ARGV[3], tonumber(ARGV[4])
local wanted = {}
for i = 1, n do
  wanted[ARGV[3 + 2 * i]] = ARGV[4 + 2 * i]
end
local out = {}
if room == '' then
  local own = p .. 'proc:' .. proc .. ':nicks'
  for _, key in ipairs(redis.call('SMEMBERS', own)) do
    if wanted[key] == nil then
      if held_by(redis.call('HGET', p .. 'nicks', key), proc) then
        redis.call('HDEL', p .. 'nicks', key)
      end
      redis.call('SREM', own, key)
    end
  end
  for key, nick in pairs(wanted) do
    local holder = redis.call('HGET', p .. 'nicks', key)
    if holder and holder_of(holder) ~= proc then
      out[#out + 1] = key
    else
      redis.call('HSET', p .. 'nicks', key, proc .. '\t' .. nick)
      redis.call('SADD', own, key)
    end
  end
  return out
end
local members = p .. 'room:' .. room .. ':members'
local all = redis.call('HGETALL', members)
local removed = 0
for i = 1, #all, 2 do
  if holder_of(all[i + 1]) == proc and wanted[all[i]] == nil then
    redis.call('HDEL', members, all[i])
    removed = removed + 1
    out[#out + 1] = nick_of(all[i + 1])
  end
end
if removed > 0 then
  members_left(room, removed)
end
for key, nick in pairs(wanted) do
  if redis.call('HSET', members, key, proc .. '\t' .. nick) == 1 then
    member_joined(room)
  end
end
return out
