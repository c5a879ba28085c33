-- roster: what a process tells of its clients, in order: '+' a member joined a room, '-' one
-- left it, 'r' a nick was let go. Only the process's own entries are ever removed.
--
-- ARGV: prefix, proc, (op, room, key, nick) * n
local proc = ARGV[2]
for i = 3, #ARGV, 4 do
  local op, room, key = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  if op == 'r' then
    if held_by(redis.call('HGET', p .. 'nicks', key), proc) then
      redis.call('HDEL', p .. 'nicks', key)
    end
    redis.call('SREM', p .. 'proc:' .. proc .. ':nicks', key)
  else
    local members = p .. 'room:' .. room .. ':members'
    if op == '+' then
      if redis.call('HSET', members, key, proc .. '\t' .. ARGV[i + 3]) == 1 then
        member_joined(room)
      end
    elseif held_by(redis.call('HGET', members, key), proc) then
      redis.call('HDEL', members, key)
      members_left(room, 1)
    end
  end
end
return (#ARGV - 2) / 4
