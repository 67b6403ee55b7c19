-- Delete messages the broker holds, and write what that means for their jobs,
-- in one step. job.lua says what write_job's arguments are.
--
-- KEYS[1]  <ns>:<queue>       the messages' ids: a list (a queue, or its .DQ
--                             delay queue) or a sorted set (its .XQ dead letters)
-- KEYS[2]  <ns>:<queue>.msgs  message id -> message
-- ARGV[1...]  write_job's arguments for each deleted message's job
-- then pairs: a message id, its job's hash (its event stream is the hash's
--             key with ":events")
--
-- A message already gone (deleted, requeued or taken meanwhile) is skipped and
-- its job left alone. Returns how many messages were deleted.
--!include job.lua
local ids, messages = KEYS[1], KEYS[2]
local is_list = redis.call("TYPE", ids)["ok"] == "list"
local deleted = 0
for i = 1 + write_width(ARGV, 1), #ARGV, 2 do
    local message_id, job_key = ARGV[i], ARGV[i + 1]
    if redis.call("HDEL", messages, message_id) == 1 then
        if is_list then
            redis.call("LREM", ids, 0, message_id)
        else
            redis.call("ZREM", ids, message_id)
        end
        write_job(job_key, events_of(job_key), ARGV, 1)
        deleted = deleted + 1
    end
end
return deleted
