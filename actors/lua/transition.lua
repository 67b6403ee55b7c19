-- Move a job to a new state, if its current state allows it.
--
-- KEYS[1] the job's hash            KEYS[2] the job's event stream
-- ARGV[1] the new state
-- ARGV[2] the states it may come from, space-separated
-- ARGV[3] fields to set, as a JSON object of strings
-- ARGV[4] the event to append (JSON)
-- ARGV[5] seconds the record lives from now; 0 keeps it until it ends
-- ARGV[6] a channel to publish the job id on, or ""
-- ARGV[7] how many events a job keeps
-- ARGV[8] "1" to create the record when it is missing (a message that was
--         sent without going through the API)
--
-- Returns {applied (1/0), the state before}. The check and the write happen
-- in one step, so a worker starting a job and a user cancelling it cannot
-- both win.
local current = redis.call("HGET", KEYS[1], "state")
if not current then
    if ARGV[8] ~= "1" then
        return {-1, ""}
    end
    current = ""
elseif not string.find(" " .. ARGV[2] .. " ", " " .. current .. " ", 1, true) then
    return {0, current}
end

local fields = cjson.decode(ARGV[3])
local flat = {"state", ARGV[1]}
for name, value in pairs(fields) do
    flat[#flat + 1] = name
    flat[#flat + 1] = value
end
redis.call("HSET", KEYS[1], unpack(flat))
redis.call("XADD", KEYS[2], "MAXLEN", "~", ARGV[7], "*", "event", ARGV[4])

local ttl = tonumber(ARGV[5])
for _, key in ipairs(KEYS) do
    if ttl > 0 then
        redis.call("EXPIRE", key, ttl)
    else
        redis.call("PERSIST", key)
    end
end

if ARGV[6] ~= "" then
    redis.call("PUBLISH", ARGV[6], redis.call("HGET", KEYS[1], "id"))
end
return {1, current}
