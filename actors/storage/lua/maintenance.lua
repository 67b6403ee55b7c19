-- Keeping a namespace's queues in order: included by heartbeat.lua, which
-- runs it on every beat, and by dispatch.lua, which runs it when dramatiq's
-- maintenance_chance says so (dramatiq's own way).
--
-- "<namespace>:__deadletters__" is a set: the canonical names of the queues
-- a message was ever dead-lettered on (see settle in dispatch.lua), so that
-- expiring dead letters needs no KEYS scan and misses no queue.
--!include queue.lua

-- Push the messages of message_ids still in queue (a queue's key) back to
-- its FRONT: they were taken before anything still waiting. Returns how many.
local function push_back(queue, message_ids)
    local pushed = 0
    for _, message_id in ipairs(message_ids) do
        if redis.call("hexists", messages_key(queue), message_id) == 1 then
            redis.call("lpush", queue, message_id)
            pushed = pushed + 1
        end
    end
    if pushed > 0 then
        wake(queue)
    end
    return pushed
end

-- Hand back the fetched messages of every worker whose heartbeat is older
-- than now - timeout, to the FRONT of their queues: they were taken before
-- anything still waiting, and forget its name ("<namespace>:__worker_names__",
-- the dashboard's) and its latest fetches (see dispatch.lua). Returns how
-- many went back.
local function reap_dead_workers(namespace, now, timeout)
    local heartbeats = heartbeats_key(namespace)
    local requeued = 0
    for _, dead_worker in ipairs(redis.call("zrangebyscore", heartbeats, 0, now - timeout)) do
        local ack_queues = ack_queues_key(namespace, dead_worker)
        for _, queue_name in ipairs(redis.call("smembers", ack_queues)) do
            local queue_acks = acks_key(namespace, dead_worker, queue_name)
            requeued = requeued + push_back(queue_key_of(namespace, queue_name),
                                            redis.call("smembers", queue_acks))
            redis.call("del", queue_acks, fetched_key(namespace, dead_worker, queue_name))
        end
        redis.call("del", ack_queues)
        redis.call("zrem", heartbeats, dead_worker)
        redis.call("hdel", worker_names_key(namespace), dead_worker)
    end
    return requeued
end

-- Drop the dead letters older than `before` (ms) of the queues named in
-- `queue_names` and of every queue that ever had one.
local function expire_dead_letters(namespace, before, queue_names)
    local queues = {}
    for _, name in ipairs(redis.call("smembers", dead_letter_queues_key(namespace))) do
        queues[name] = true
    end
    for _, name in ipairs(queue_names) do
        queues[name] = true
    end
    for name in pairs(queues) do
        local dead_letters = dead_letters_key(namespace, name)
        repeat
            local expired = redis.call("zrangebyscore", dead_letters, 0, before, "LIMIT", 0, 1000)
            if #expired > 0 then
                redis.call("zrem", dead_letters, unpack(expired))
                redis.call("hdel", messages_key(dead_letters), unpack(expired))
            end
        until #expired < 1000
    end
end
