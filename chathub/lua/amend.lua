-- Shared by the history scripts (prepended to open and read): stream entries as they are
-- now, deleted ones left out (the room's `gone` set of ids) and edited ones with their new
-- text as a field `x` after the entry's `e`.
local function amend(p, room, entries, count)
  local gone = p .. 'room:' .. room .. ':gone'
  local edits = p .. 'room:' .. room .. ':edits'
  if redis.call('EXISTS', gone) == 0 and redis.call('EXISTS', edits) == 0 then
    return entries
  end
  local out = {}
  for _, entry in ipairs(entries) do
    local id = string.match(entry[1], '^(%d+)')
    if redis.call('SISMEMBER', gone, id) == 0 then
      local text = redis.call('HGET', edits, id)
      if text then
        entry[2] = {entry[2][1], entry[2][2], 'x', text}
      end
      if #out < count then
        out[#out + 1] = entry
      end
    end
  end
  return out
end

-- How many more entries to read than asked: as many as were deleted (at most 1000).
local function extra(p, room)
  local n = redis.call('SCARD', p .. 'room:' .. room .. ':gone')
  if n > 1000 then
    return 1000
  end
  return n
end
