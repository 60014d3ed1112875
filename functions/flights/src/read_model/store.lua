-- Keeps flights in the read model, each only if newer than the one held.
-- ARGV[1]: the prefix of a destination's flights by departure. For each
-- flight n (from 0), four keys: KEYS[4n+1] the flight's hash, KEYS[4n+2]
-- its reply, KEYS[4n+3] every flight by departure, KEYS[4n+4] its
-- destination's flights by departure; five arguments: ARGV[5n+2] the
-- flight's version, ARGV[5n+3] its destination's, ARGV[5n+4] the reply
-- get-flight serves, ARGV[5n+5] its member of the sorted sets (departure
-- and id), ARGV[5n+6] the destination's id.
-- A flight's reply depends on its row and its destination's: a row read
-- later has neither version lower, so one is newer only if neither of its
-- versions is older and one is newer; a flight whose reply is missing
-- holds nothing. Deliveries in any order, twice, or beside a rebuild leave
-- the newest. A member that changed (a flight moved to another departure)
-- leaves the sets with the reply it was listed with.
-- Returns how many flights were newer.
local newer = 0
for n = 0, #KEYS / 4 - 1 do
  local k, a = 4 * n, 5 * n + 1
  local held = redis.call('HMGET', KEYS[k + 1], 'version', 'destination_version', 'member', 'destination')
  local held_flight, held_destination = 0, 0
  if redis.call('EXISTS', KEYS[k + 2]) == 1 then
    held_flight, held_destination = tonumber(held[1] or '0'), tonumber(held[2] or '0')
  end
  local flight, destination = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
  if flight >= held_flight and destination >= held_destination
      and (flight > held_flight or destination > held_destination) then
    local member = ARGV[a + 4]
    if held[3] and held[3] ~= member then
      redis.call('ZREM', KEYS[k + 3], held[3])
      redis.call('ZREM', ARGV[1] .. held[4], held[3])
    end
    redis.call('HSET', KEYS[k + 1], 'version', ARGV[a + 1], 'destination_version', ARGV[a + 2],
      'member', member, 'destination', ARGV[a + 5])
    redis.call('SET', KEYS[k + 2], ARGV[a + 3])
    redis.call('ZADD', KEYS[k + 3], 0, member)
    redis.call('ZADD', KEYS[k + 4], 0, member)
    newer = newer + 1
  end
end
return newer
