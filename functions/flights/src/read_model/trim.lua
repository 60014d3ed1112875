-- Drops up to 1,000 flights that departed before a time, out of every key.
-- KEYS[1]: every flight's listing; ARGV[1]: the time, as a place's
-- departure is written; ARGV[2], ARGV[3], ARGV[4]: the prefixes of a
-- flight's versions, its reply, and its destination's listing.
-- Returns how many went.
local entries = redis.call('ZRANGE', KEYS[1], '-', '(' .. ARGV[1], 'BYLEX', 'LIMIT', 0, 1000)
for _, entry in ipairs(entries) do
  -- `<departure>:<id>:<reply>`; an id has no colon.
  local place, id = string.match(entry, '^(%d+:([^:]+)):')
  local destination = redis.call('HGET', ARGV[2] .. id, 'destination')
  if destination then
    redis.call('ZREMRANGEBYLEX', ARGV[4] .. destination, '[' .. place .. ':', '(' .. place .. ';')
  end
  redis.call('DEL', ARGV[2] .. id, ARGV[3] .. id)
  redis.call('ZREM', KEYS[1], entry)
end
return #entries
