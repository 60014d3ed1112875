-- Keeps flights in the read model, each only if newer than the one held.
-- ARGV[1]: the prefix of a destination's listing. For each flight n (from
-- 0), four keys: KEYS[4n+1] the flight's versions (a hash), KEYS[4n+2] its
-- reply, KEYS[4n+3] every flight's listing, KEYS[4n+4] its destination's
-- listing; five arguments: ARGV[5n+2] the flight's version, ARGV[5n+3] its
-- destination's, ARGV[5n+4] the reply get-flight serves, ARGV[5n+5] its
-- place in the listings (departure and id), ARGV[5n+6] the destination's id.
-- A flight's reply depends on its row and its destination's: a row read
-- later has neither version lower, so one is newer only if neither of its
-- versions is older and one is newer; a flight whose reply is missing
-- holds nothing. Deliveries in any order, twice, or beside a rebuild leave
-- the newest.
-- A listing's entry is `<place>:<reply>`. Every entry of a flight at a
-- place, whatever reply it was made with, lies between `<place>:` and
-- `<place>;`: that range goes, where the flight was listed and where it
-- is, before its new entry comes in, so it is listed once.
-- Returns how many flights were newer.
local function unlist(listing, place)
  redis.call('ZREMRANGEBYLEX', listing, '[' .. place .. ':', '(' .. place .. ';')
end

local newer = 0
for n = 0, #KEYS / 4 - 1 do
  local k, a = 4 * n, 5 * n + 1
  local held = redis.call('HMGET', KEYS[k + 1], 'version', 'destination_version', 'place', 'destination')
  local held_flight, held_destination = 0, 0
  if redis.call('EXISTS', KEYS[k + 2]) == 1 then
    held_flight, held_destination = tonumber(held[1] or '0'), tonumber(held[2] or '0')
  end
  local flight, destination = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
  if flight >= held_flight and destination >= held_destination
      and (flight > held_flight or destination > held_destination) then
    local reply, place, to = ARGV[a + 3], ARGV[a + 4], ARGV[a + 5]
    if held[3] and (held[3] ~= place or held[4] ~= to) then
      unlist(KEYS[k + 3], held[3])
      unlist(ARGV[1] .. held[4], held[3])
    end
    unlist(KEYS[k + 3], place)
    unlist(KEYS[k + 4], place)
    redis.call('HSET', KEYS[k + 1], 'version', ARGV[a + 1], 'destination_version', ARGV[a + 2],
      'place', place, 'destination', to)
    redis.call('SET', KEYS[k + 2], reply)
    local entry = place .. ':' .. reply
    redis.call('ZADD', KEYS[k + 3], 0, entry)
    redis.call('ZADD', KEYS[k + 4], 0, entry)
    newer = newer + 1
  end
end
return newer
