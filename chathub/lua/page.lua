-- page: rooms (with members or history) whose names sort after `after`, by name, at most
-- `limit`, each with its member count.
--
-- ARGV: prefix, after, limit
local low = '-'
if ARGV[2] ~= '' then
  low = '(' .. ARGV[2]
end
local names = redis.call('ZRANGEBYLEX', p .. 'names', low, '+', 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for _, name in ipairs(names) do
  out[#out + 1] = name
  out[#out + 1] = redis.call('ZSCORE', p .. 'rooms', name) or '0'
end
return out
