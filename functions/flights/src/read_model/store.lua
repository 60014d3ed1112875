-- Keeps flights in the read model, each only if newer than the one held.
-- For each flight n (from 0), four keys: KEYS[4n+1] the flight's hash,
-- KEYS[4n+2] its destination's hash, KEYS[4n+3] every flight by departure,
-- KEYS[4n+4] the destination's flights by departure; six arguments:
-- ARGV[6n+1] the flight's version, ARGV[6n+2] its document, ARGV[6n+3] its
-- departure (microseconds), ARGV[6n+4] its id, ARGV[6n+5] the destination's
-- version, ARGV[6n+6] the destination's document.
-- A hash holds `version` and `doc`; deliveries in any order, twice, or
-- beside a rebuild leave the newest. Returns how many flights were newer.
local newer = 0
for n = 0, #KEYS / 4 - 1 do
  local k, a = 4 * n, 6 * n
  local held = tonumber(redis.call('HGET', KEYS[k + 1], 'version') or '0')
  if tonumber(ARGV[a + 1]) > held then
    redis.call('HSET', KEYS[k + 1], 'version', ARGV[a + 1], 'doc', ARGV[a + 2])
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
