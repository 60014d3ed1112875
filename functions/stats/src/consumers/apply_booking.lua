-- Applies one booking event to the stats, atomically, at most once, and all
-- or nothing: every key's type is checked before anything is written.
-- KEYS: 1 seen-id, 2 revenue, 3 bookings, 4 pet bookings, 5 destination hash,
--       6 candy cost, 7 infant count, 8 candy log, 9 destinations by bookings,
--       10 reconciling marker, 11 journal
-- ARGV: 1 seen TTL (s), 2 sign (1 created, -1 cancelled), 3 total (cents),
--       4 has pet (0|1), 5 gets a candy (0|1), 6 candy cost (cents),
--       7 candy log entry, 8 candy log cap, 9 destination id,
--       10 destination name, 11 event key
local function check(key, want)
  local t = redis.call('TYPE', key).ok
  if t ~= 'none' and t ~= want then
    return redis.error_reply('WRONGTYPE ' .. key .. ' is a ' .. t .. ', not a ' .. want)
  end
  if want == 'string' and t == 'string' and not tonumber(redis.call('GET', key)) then
    return redis.error_reply('WRONGTYPE ' .. key .. ' does not hold an integer')
  end
end
for _, spec in ipairs({{1, 'string'}, {2, 'string'}, {3, 'string'}, {4, 'string'}, {5, 'hash'},
                       {6, 'string'}, {7, 'string'}, {8, 'list'}, {9, 'zset'}, {11, 'list'}}) do
  local wrong = check(KEYS[spec[1]], spec[2])
  if wrong then return wrong end
end
for _, field in ipairs({'bookings', 'revenue_cents'}) do
  local v = redis.call('HGET', KEYS[5], field)
  if v and not tonumber(v) then
    return redis.error_reply('WRONGTYPE ' .. KEYS[5] .. ' ' .. field .. ' does not hold an integer')
  end
end

if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then
  return 0
end
local sign = tonumber(ARGV[2])
local cents = sign * tonumber(ARGV[3])
local candy = sign > 0 and ARGV[5] == '1'
redis.call('INCRBY', KEYS[2], cents)
redis.call('INCRBY', KEYS[3], sign)
if ARGV[4] == '1' then
  redis.call('INCRBY', KEYS[4], sign)
end
redis.call('HINCRBY', KEYS[5], 'bookings', sign)
redis.call('HINCRBY', KEYS[5], 'revenue_cents', cents)
-- The name shown until a rename (with its version) says otherwise.
redis.call('HSETNX', KEYS[5], 'name', ARGV[10])
redis.call('ZINCRBY', KEYS[9], sign, ARGV[9])
-- A candy handed out is not taken back when the booking is cancelled.
if candy then
  redis.call('INCRBY', KEYS[6], tonumber(ARGV[6]))
  redis.call('INCRBY', KEYS[7], 1)
  redis.call('LPUSH', KEYS[8], ARGV[7])
  redis.call('LTRIM', KEYS[8], 0, tonumber(ARGV[8]) - 1)
end
-- While a reconciliation runs, it learns what was applied meanwhile.
if redis.call('EXISTS', KEYS[10]) == 1 then
  redis.call('RPUSH', KEYS[11], cjson.encode({
    event = ARGV[11], sign = sign, cents = tonumber(ARGV[3]), pet = ARGV[4] == '1',
    candy = candy, destination = ARGV[9], name = ARGV[10], entry = ARGV[7],
  }))
end
return 1
