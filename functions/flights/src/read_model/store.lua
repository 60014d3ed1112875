-- Keeps flights in the read model, each only if newer than the one held.
-- For each flight n (from 0), four keys: KEYS[4n+1] the flight's hash,
-- KEYS[4n+2] its destination's hash, KEYS[4n+3] every flight by departure,
-- KEYS[4n+4] the destination's flights by departure; seven arguments:
-- ARGV[7n+1] the flight's version, ARGV[7n+2] its document, ARGV[7n+3] its
-- departure (microseconds), ARGV[7n+4] its id, ARGV[7n+5] the destination's
-- version, ARGV[7n+6] the destination's document, ARGV[7n+7] its id.
-- A flight's hash holds `version`, `doc` and `destination` (its id, so a
-- reader needs no JSON to find it); a destination's `version` and `doc`.
-- Deliveries in any order, twice, or beside a rebuild leave the newest.
-- Returns how many flights were newer.
local newer = 0
for n = 0, #KEYS / 4 - 1 do
  local k, a = 4 * n, 7 * n
  local held = tonumber(redis.call('HGET', KEYS[k + 1], 'version') or '0')
  if tonumber(ARGV[a + 1]) > held then
    redis.call('HSET', KEYS[k + 1], 'version', ARGV[a + 1], 'doc', ARGV[a + 2], 'destination', ARGV[a + 7])
    redis.call('ZADD', KEYS[k + 3], ARGV[a + 3], ARGV[a + 4])
    redis.call('ZADD', KEYS[k + 4], ARGV[a + 3], ARGV[a + 4])
    newer = newer + 1
  end
  local destination = tonumber(redis.call('HGET', KEYS[k + 2], 'version') or '0')
  if tonumber(ARGV[a + 5]) > destination then
    redis.call('HSET', KEYS[k + 2], 'version', ARGV[a + 5], 'doc', ARGV[a + 6])
  end
end
return newer
