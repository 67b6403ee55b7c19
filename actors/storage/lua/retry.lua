-- Retry a failed or dead job: queue it again and send its message, in one
-- step, or do neither. job.lua says what write_job's arguments are.
--
-- KEYS[1] the job's hash            KEYS[2] the job's event stream
-- KEYS[3] the broker queue its message goes to (dramatiq's "<namespace>:<queue>")
-- KEYS[4] the dead letters its last message may be among, or ""
-- ARGV    write_job's arguments, from the first; then, last, the message's
--         redis message id and the encoded message
--
-- Returns {applied (1, 0, or -1 when there is no such job), the state before,
-- the record after as HGETALL gives it (empty unless applied)}.
--!include queue.lua
--!include job.lua
local written = write_job(KEYS[1], KEYS[2], ARGV, 1)
if written[1] ~= 1 then
    return {written[1], written[2], {}}
end

enqueue(KEYS[3], ARGV[#ARGV - 1], ARGV[#ARGV])
wake(KEYS[3])

-- The message that died is sent again: it is no dead letter any more.
local dead_letter = redis.call("HGET", KEYS[1], "redis_message_id")
if KEYS[4] ~= "" and dead_letter then
    dead_letter = cjson.decode(dead_letter)
    redis.call("ZREM", KEYS[4], dead_letter)
    redis.call("HDEL", messages_key(KEYS[4]), dead_letter)
end
return {1, written[2], redis.call("HGETALL", KEYS[1])}
