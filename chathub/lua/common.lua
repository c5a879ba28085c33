-- Shared by the presence scripts (prepended to each). Entries of the nick table and of a
-- room's members are "PROC<tab>NICK": the process holding them, and the nick as shown.
local p = ARGV[1]

local function holder_of(value)
  return string.match(value, '^[^\t]*')
end

local function nick_of(value)
  return string.sub(value, #holder_of(value) + 2)
end

local function held_by(value, proc)
  return value and holder_of(value) == proc
end

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- A room lost `n` members: it leaves the room lists when it has none and no history.
local function members_left(room, n)
  local count = tonumber(redis.call('ZINCRBY', p .. 'rooms', -n, room))
  if count <= 0 then
    if redis.call('EXISTS', p .. 'room:' .. room .. ':id') == 0 then
      redis.call('ZREM', p .. 'rooms', room)
      redis.call('ZREM', p .. 'names', room)
    elseif count < 0 then
      redis.call('ZADD', p .. 'rooms', 0, room)
    end
  end
end

local function member_joined(room)
  redis.call('ZINCRBY', p .. 'rooms', 1, room)
  redis.call('ZADD', p .. 'names', 0, room)
end

-- Everything a process holds goes: its rooms (it reads them no more), its members (each
-- `room, nick` is added to `gone`, to be announced as parts) and its nicks.
local function remove_process(proc, gone)
  local rooms_key = p .. 'proc:' .. proc .. ':rooms'
  for _, room in ipairs(redis.call('SMEMBERS', rooms_key)) do
    redis.call('SREM', p .. 'room:' .. room .. ':procs', proc)
    local members = p .. 'room:' .. room .. ':members'
    local all = redis.call('HGETALL', members)
    local removed = 0
    for i = 1, #all, 2 do
      if holder_of(all[i + 1]) == proc then
        redis.call('HDEL', members, all[i])
        removed = removed + 1
        gone[#gone + 1] = room
        gone[#gone + 1] = nick_of(all[i + 1])
      end
    end
    if removed > 0 then
      members_left(room, removed)
    end
  end
  local nicks_key = p .. 'proc:' .. proc .. ':nicks'
  for _, key in ipairs(redis.call('SMEMBERS', nicks_key)) do
    if held_by(redis.call('HGET', p .. 'nicks', key), proc) then
      redis.call('HDEL', p .. 'nicks', key)
    end
  end
  redis.call('DEL', rooms_key, nicks_key)
  redis.call('ZREM', p .. 'procs', proc)
end
