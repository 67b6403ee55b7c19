-- Putting messages on a dramatiq queue: included by every script that does,
-- so that the layout and the wake-up token are written in one place.
--
-- A queue "<namespace>:<queue>" is a list of message ids; "<queue>.msgs" maps
-- them to the encoded messages; "<queue>.wake" holds at most one token, which
-- an idle consumer blocks on (actors/consumer.py) instead of polling.
--!include keys.lua

-- Append a message to its queue, as dramatiq's own enqueue does.
local function enqueue(queue_key, message_id, message)
    redis.call("HSET", messages_key(queue_key), message_id, message)
    redis.call("RPUSH", queue_key, message_id)
end

-- Leave the queue's wake-up token: one, however many messages came.
local function wake(queue_key)
    redis.call("LPUSH", wake_key(queue_key), "1")
    redis.call("LTRIM", wake_key(queue_key), 0, 0)
end
