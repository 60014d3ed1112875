-- One flight from the read model, with its destination's terms.
-- KEYS[1]: the flight's hash; ARGV[1]: the destination key prefix.
-- Returns the flight's document and its destination's, or nothing.
local doc = redis.call('HGET', KEYS[1], 'doc')
if not doc then return false end
local destination = cjson.decode(doc).destination_id
return {doc, redis.call('HGET', ARGV[1] .. destination, 'doc')}
