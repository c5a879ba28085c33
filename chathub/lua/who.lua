-- who: the nicks in a room, of live processes only (a process that stopped saying it is
-- alive is gone for everyone at once, before its entries are cleared).
--
-- ARGV: prefix, room
local all = redis.call('HGETALL', p .. 'room:' .. ARGV[2] .. ':members')
local now = now_ms()
local alive = {}
local out = {}
for i = 1, #all, 2 do
  local proc = holder_of(all[i + 1])
  local live = alive[proc]
  if live == nil then
    local deadline = redis.call('ZSCORE', p .. 'procs', proc)
    live = deadline ~= false and tonumber(deadline) >= now
    alive[proc] = live
  end
  if live then
    out[#out + 1] = nick_of(all[i + 1])
  end
end
return out
