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

-- Leave the queue's wake-up token: one, however many messages came. A
-- token left already (no consumer idle since) is checked for, not pushed
-- again and trimmed.
local function wake(queue_key)
    local token = wake_key(queue_key)
    if redis.call("LLEN", token) == 0 then
        redis.call("LPUSH", token, "1")
    end
end

-- Take the queue's wake-up token away, once no message waits in it: left,
-- it would wake a consumer to fetch nothing.
local function unwake(queue_key)
    redis.call("DEL", wake_key(queue_key))
end

-- Messages gathered to be appended to their queues together, as a batch's
-- are (create_jobs.lua): each queue gets one HSET and one RPUSH for them, in
-- the order they were gathered, and one wake-up, rather than a call of each
-- a message. Lua unpacks a few thousand values at most: long runs are split.
local MESSAGES_PER_CALL = 1000

local function gathered_messages()
    local queues, order, gathered = {}, {}, {}

    function gathered.add(queue_key, message_id, message)
        local queue = queues[queue_key]
        if not queue then
            queue = {ids = {}, fields = {}}
            queues[queue_key] = queue
            order[#order + 1] = queue_key
        end
        queue.ids[#queue.ids + 1] = message_id
        queue.fields[#queue.fields + 1] = message_id
        queue.fields[#queue.fields + 1] = message
    end

    function gathered.enqueue()
        for _, queue_key in ipairs(order) do
            local ids, fields = queues[queue_key].ids, queues[queue_key].fields
            for first = 1, #ids, MESSAGES_PER_CALL do
                local last = math.min(first + MESSAGES_PER_CALL - 1, #ids)
                redis.call("HSET", messages_key(queue_key), unpack(fields, 2 * first - 1, 2 * last))
                redis.call("RPUSH", queue_key, unpack(ids, first, last))
            end
            wake(queue_key)
        end
    end

    return gathered
end
