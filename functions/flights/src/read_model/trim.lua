-- Drops up to 1,000 flights that departed before a time, out of every key.
-- KEYS[1]: every flight by departure; ARGV[1]: the time, as a member's
-- departure is written; ARGV[2], ARGV[3], ARGV[4]: the prefixes of a
-- flight's hash, its reply, and its destination's flights by departure.
-- Returns how many went.
local members = redis.call('ZRANGE', KEYS[1], '-', '(' .. ARGV[1], 'BYLEX', 'LIMIT', 0, 1000)
for _, member in ipairs(members) do
  local id = string.match(member, ':(.*)$')
  local destination = redis.call('HGET', ARGV[2] .. id, 'destination')
  if destination then redis.call('ZREM', ARGV[4] .. destination, member) end
  redis.call('DEL', ARGV[2] .. id, ARGV[3] .. id)
  redis.call('ZREM', KEYS[1], member)
end
return #members
