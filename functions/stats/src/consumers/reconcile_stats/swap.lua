-- Replaces the stats with rebuilt ones, atomically, and what they remember
-- having applied: a new floor (everything below is in the rebuild), nothing
-- owed, and bits for the rebuild's events above the floor.
-- KEYS: 1 reconciling marker, 2 journal, 3 revenue, 4 bookings, 5 pet bookings,
--       6 candy cost, 7 infant count, 8 candy log, 9 destinations by bookings,
--       10 applied floor, 11 owed
-- ARGV: 1 claim token, 2 journal length read, 3 destination key prefix,
--       4 revenue, 5 bookings, 6 pet bookings, 7 candy cost, 8 infants,
--       9 applied chunk prefix, 10 bits per chunk, 11 new floor,
--       12 destinations n, then n times (id, name, name version, bookings,
--       revenue), then m, then m numbers applied above the floor, then the
--       candy log, newest first
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
if redis.call('LLEN', KEYS[2]) ~= tonumber(ARGV[2]) then return 0 end

-- Counters of destinations no longer booked go; names stay with their version.
if redis.call('TYPE', KEYS[9]).ok == 'zset' then
  for _, id in ipairs(redis.call('ZRANGE', KEYS[9], 0, -1)) do
    local key = ARGV[3] .. id
    if redis.call('TYPE', key).ok == 'hash' then
      redis.call('HDEL', key, 'bookings', 'revenue_cents')
    else
      redis.call('DEL', key)
    end
  end
end
redis.call('DEL', KEYS[8], KEYS[9])
for i = 3, 7 do
  redis.call('SET', KEYS[i], ARGV[i + 1])
end
local n = tonumber(ARGV[12])
for i = 0, n - 1 do
  local at = 13 + i * 5
  local id, name, version = ARGV[at], ARGV[at + 1], tonumber(ARGV[at + 2])
  local key = ARGV[3] .. id
  if redis.call('TYPE', key).ok ~= 'hash' then redis.call('DEL', key) end
  redis.call('HSET', key, 'bookings', ARGV[at + 3], 'revenue_cents', ARGV[at + 4])
  if version >= tonumber(redis.call('HGET', key, 'name_version') or '0') then
    redis.call('HSET', key, 'name', name, 'name_version', version)
  end
  redis.call('ZADD', KEYS[9], ARGV[at + 3], id)
end

-- The chunks from the old floor to the newest event are rewritten whole.
local bits, floor = tonumber(ARGV[10]), tonumber(ARGV[11])
local old = floor
if redis.call('TYPE', KEYS[10]).ok == 'string' then
  old = math.min(floor, tonumber(redis.call('GET', KEYS[10])) or floor)
end
local marks = 13 + n * 5
local m = tonumber(ARGV[marks])
local top = floor
for i = marks + 1, marks + m do top = math.max(top, tonumber(ARGV[i])) end
for chunk = math.floor(old / bits), math.floor(top / bits) do
  redis.call('DEL', ARGV[9] .. chunk)
end
for i = marks + 1, marks + m do
  local seq = tonumber(ARGV[i])
  redis.call('SETBIT', ARGV[9] .. math.floor(seq / bits), seq % bits, 1)
end
redis.call('DEL', KEYS[10], KEYS[11])
redis.call('SET', KEYS[10], ARGV[11])

for i = marks + m + 1, #ARGV do
  redis.call('RPUSH', KEYS[8], ARGV[i])
end
redis.call('DEL', KEYS[1], KEYS[2])
return 1
