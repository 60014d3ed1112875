-- Applies one booking event to the stats, atomically, at most once, and all
-- or nothing: every key's type is checked before anything is written.
-- KEYS: 1 applied floor, 2 applied bitmap chunk, 3 owed, 4 revenue,
--       5 bookings, 6 pet bookings, 7 destination hash, 8 candy cost,
--       9 infant count, 10 candy log, 11 destinations by bookings,
--       12 reconciling marker, 13 journal
-- ARGV: 1 sequence, 2 its bit in the chunk, 3 sign (1 created, -1 cancelled),
--       4 total (cents), 5 has pet (0|1), 6 gets a candy (0|1),
--       7 candy cost (cents), 8 candy log entry, 9 candy log cap,
--       10 destination id, 11 destination name
local function check(key, want)
  local t = redis.call('TYPE', key).ok
  if t ~= 'none' and t ~= want then
    return redis.error_reply('WRONGTYPE ' .. key .. ' is a ' .. t .. ', not a ' .. want)
  end
  if want == 'string' and t == 'string' and not tonumber(redis.call('GET', key)) then
    return redis.error_reply('WRONGTYPE ' .. key .. ' does not hold an integer')
  end
end
for _, spec in ipairs({{1, 'string'}, {3, 'set'}, {4, 'string'}, {5, 'string'}, {6, 'string'},
                       {7, 'hash'}, {8, 'string'}, {9, 'string'}, {10, 'list'}, {11, 'zset'},
                       {13, 'list'}}) do
  local wrong = check(KEYS[spec[1]], spec[2])
  if wrong then return wrong end
end
local chunk = redis.call('TYPE', KEYS[2]).ok
if chunk ~= 'none' and chunk ~= 'string' then
  return redis.error_reply('WRONGTYPE ' .. KEYS[2] .. ' is a ' .. chunk .. ', not a bitmap')
end
for _, field in ipairs({'bookings', 'revenue_cents'}) do
  local v = redis.call('HGET', KEYS[7], field)
  if v and not tonumber(v) then
    return redis.error_reply('WRONGTYPE ' .. KEYS[7] .. ' ' .. field .. ' does not hold an integer')
  end
end

-- Below the floor an event counts only if it is owed; above, only if its
-- bit is clear.
local below = tonumber(ARGV[1]) < tonumber(redis.call('GET', KEYS[1]) or '0')
if below then
  if redis.call('SREM', KEYS[3], ARGV[1]) == 0 then return 0 end
elseif redis.call('SETBIT', KEYS[2], tonumber(ARGV[2]), 1) == 1 then
  return 0
end
local sign = tonumber(ARGV[3])
local cents = sign * tonumber(ARGV[4])
local candy = sign > 0 and ARGV[6] == '1'
redis.call('INCRBY', KEYS[4], cents)
redis.call('INCRBY', KEYS[5], sign)
if ARGV[5] == '1' then
  redis.call('INCRBY', KEYS[6], sign)
end
redis.call('HINCRBY', KEYS[7], 'bookings', sign)
redis.call('HINCRBY', KEYS[7], 'revenue_cents', cents)
-- The name shown until a rename (with its version) says otherwise.
redis.call('HSETNX', KEYS[7], 'name', ARGV[11])
redis.call('ZINCRBY', KEYS[11], sign, ARGV[10])
-- A candy handed out is not taken back when the booking is cancelled.
if candy then
  redis.call('INCRBY', KEYS[8], tonumber(ARGV[7]))
  redis.call('INCRBY', KEYS[9], 1)
  redis.call('LPUSH', KEYS[10], ARGV[8])
  redis.call('LTRIM', KEYS[10], 0, tonumber(ARGV[9]) - 1)
end
-- While a reconciliation runs, it learns what was applied meanwhile.
if redis.call('EXISTS', KEYS[12]) == 1 then
  redis.call('RPUSH', KEYS[13], cjson.encode({
    seq = ARGV[1], sign = sign, cents = tonumber(ARGV[4]), pet = ARGV[5] == '1',
    candy = candy, destination = ARGV[10], name = ARGV[11], entry = ARGV[8],
  }))
end
return 1
