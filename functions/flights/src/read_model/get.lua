-- One flight from the read model, with its destination's terms.
-- KEYS[1]: the flight's hash; ARGV[1]: the destination key prefix.
-- Returns the flight's document and its destination's, or nothing.
local flight = redis.call('HMGET', KEYS[1], 'doc', 'destination')
if not flight[1] then return false end
return {flight[1], redis.call('HGET', ARGV[1] .. flight[2], 'doc')}
