-- A job's events after an id, without blocking: those its stream holds, or
-- else the last one its record holds (see event.lua), if it is after that id.
--
-- KEYS[1] the job's hash            KEYS[2] the job's event stream
-- ARGV[1] the id to read after      ARGV[2] how many events at most
--
-- Returns {the id of the job's last event, or nil when there is no such job,
-- then an id and an event (JSON) for each event, oldest first}.
--!include event.lua
local after = ARGV[1]
local last_id = redis.call("HGET", KEYS[1], "event_id")
local reply = {last_id}
local read = redis.call("XREAD", "COUNT", ARGV[2], "STREAMS", KEYS[2], after)
if read then
    for _, entry in ipairs(read[1][2]) do
        reply[#reply + 1] = entry[1]
        reply[#reply + 1] = entry[2][2]
    end
elseif last_id and later(last_id, after) then
    reply[2] = last_id
    reply[3] = held_event(KEYS[1])
end
return reply
