-- Applies one booking event to the stats, atomically, at most once.
-- KEYS: 1 seen-id, 2 revenue, 3 bookings, 4 pet bookings, 5 destination hash,
--       6 candy cost, 7 infant count, 8 candy log, 9 destinations by bookings
-- ARGV: 1 seen TTL (s), 2 sign (1 created, -1 cancelled), 3 total (cents),
--       4 has pet (0|1), 5 gets a candy (0|1), 6 candy cost (cents),
--       7 candy log entry, 8 candy log cap, 9 destination name
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then
  return 0
end
local sign = tonumber(ARGV[2])
local cents = sign * tonumber(ARGV[3])
redis.call('INCRBY', KEYS[2], cents)
redis.call('INCRBY', KEYS[3], sign)
if ARGV[4] == '1' then
  redis.call('INCRBY', KEYS[4], sign)
end
redis.call('HINCRBY', KEYS[5], 'bookings', sign)
redis.call('HINCRBY', KEYS[5], 'revenue_cents', cents)
redis.call('ZINCRBY', KEYS[9], sign, ARGV[9])
-- A candy handed out is not taken back when the booking is cancelled.
if sign > 0 and ARGV[5] == '1' then
  redis.call('INCRBY', KEYS[6], tonumber(ARGV[6]))
  redis.call('INCRBY', KEYS[7], 1)
  redis.call('LPUSH', KEYS[8], ARGV[7])
  redis.call('LTRIM', KEYS[8], 0, tonumber(ARGV[8]) - 1)
end
return 1
