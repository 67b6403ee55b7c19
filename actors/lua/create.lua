-- Create a job record, its first event and its index entry, atomically.
--
-- KEYS[1] the job's hash            KEYS[2] the job's event stream
-- KEYS[3] the index of all jobs     KEYS[4] the idempotency key, or "" for none
-- ARGV[1] job id                    ARGV[2] the record as a JSON object of strings
-- ARGV[3] the first event (JSON)    ARGV[4] how long the idempotency key lives (s)
-- ARGV[5] index entries older than this stream id are trimmed
-- ARGV[6] the actor's name (kept in the index so that listing can filter cheaply)
-- ARGV[7] how many events a job keeps
--
-- Returns {1, id} when created, {0, existing id} when the idempotency key
-- already names a job: concurrent duplicates race here, inside Redis, and
-- exactly one of them wins.
if KEYS[4] ~= "" then
    local existing = redis.call("GET", KEYS[4])
    if existing then
        return {0, existing}
    end
    redis.call("SET", KEYS[4], ARGV[1], "EX", ARGV[4])
end

local record = cjson.decode(ARGV[2])
local flat = {}
for name, value in pairs(record) do
    flat[#flat + 1] = name
    flat[#flat + 1] = value
end
redis.call("HSET", KEYS[1], unpack(flat))
redis.call("XADD", KEYS[2], "MAXLEN", "~", ARGV[7], "*", "event", ARGV[3])
redis.call("XADD", KEYS[3], "MINID", "~", ARGV[5], "*", "id", ARGV[1], "actor", ARGV[6])
return {1, ARGV[1]}
