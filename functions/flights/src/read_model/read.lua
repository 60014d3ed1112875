-- Flights by departure from the read model, with their destinations' terms.
-- KEYS[1]: the sorted set to walk (every flight, or one destination's);
-- KEYS[2]: the mark that the model is whole (without it, returns false).
-- ARGV[1]: the earliest departure (microseconds, inclusive); ARGV[2]: the
-- latest (exclusive), or '+inf'; ARGV[3] and ARGV[4]: a cursor's departure
-- and id, or '' and '': at that departure only ids after it are taken;
-- ARGV[5]: how many; ARGV[6], ARGV[7]: the flight and destination key
-- prefixes. Equal departures come in id order, as Redis orders members of
-- equal score, so the order is (departure, id), as PostgreSQL's.
-- Returns two flat lists: each flight's document and its destination's id;
-- each of those destinations once, its id and its document (or false).
if redis.call('EXISTS', KEYS[2]) == 0 then return false end
local latest = ARGV[2]
if latest ~= '+inf' then latest = '(' .. latest end
local want = tonumber(ARGV[5])
local at, after = ARGV[3], ARGV[4]
local flights, destinations, seen = {}, {}, {}
local offset = 0
while #flights < 2 * want do
  local batch = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[1], latest, 'WITHSCORES', 'LIMIT', offset, want)
  if #batch == 0 then break end
  for i = 1, #batch, 2 do
    local id, departure = batch[i], batch[i + 1]
    if not (at ~= '' and tonumber(departure) == tonumber(at) and id <= after) then
      local flight = redis.call('HMGET', ARGV[6] .. id, 'doc', 'destination')
      if flight[1] then
        table.insert(flights, flight[1])
        table.insert(flights, flight[2])
        if not seen[flight[2]] then
          seen[flight[2]] = true
          table.insert(destinations, flight[2])
          table.insert(destinations, redis.call('HGET', ARGV[7] .. flight[2], 'doc'))
        end
        if #flights >= 2 * want then break end
      end
    end
  end
  offset = offset + want
end
return {flights, destinations}
