-- One beat of a worker process: say it is alive, hand back the messages of
-- workers that are not, and drop dead letters past their time.
--
-- KEYS[1] the broker's namespace
-- ARGV[1] now (ms)                   ARGV[2] this worker's id
-- ARGV[3] this worker's beat: now, or 0 when it leaves (and is reaped at once)
-- ARGV[4] heartbeat timeout (ms)     ARGV[5] dead-letter time to live (ms)
-- ARGV[6...] the queues this worker declared (their dead letters are expired)
--
-- A dead worker's fetched messages go back to the FRONT of their queues:
-- they were taken before anything still waiting. Returns how many went back.
local namespace = KEYS[1]
local now = tonumber(ARGV[1])
local heartbeats = namespace .. ":__heartbeats__"

redis.call("zadd", heartbeats, ARGV[3], ARGV[2])

local requeued = 0
local dead_workers = redis.call("zrangebyscore", heartbeats, 0, now - tonumber(ARGV[4]))
for _, dead_worker in ipairs(dead_workers) do
    local ack_queues = namespace .. ":__ackqueues__." .. dead_worker
    for _, queue_name in ipairs(redis.call("smembers", ack_queues)) do
        local queue = namespace .. ":" .. queue_name
        local queue_acks = namespace .. ":__acks__." .. dead_worker .. "." .. queue_name
        local pushed = 0
        for _, message_id in ipairs(redis.call("smembers", queue_acks)) do
            if redis.call("hexists", queue .. ".msgs", message_id) == 1 then
                redis.call("lpush", queue, message_id)
                pushed = pushed + 1
            end
        end
        redis.call("del", queue_acks)
        if pushed > 0 then
            wake(queue)
        end
        requeued = requeued + pushed
    end
    redis.call("del", ack_queues)
    redis.call("zrem", heartbeats, dead_worker)
end

local expired_before = now - tonumber(ARGV[5])
for i = 6, #ARGV do
    local dead_letters = namespace .. ":" .. ARGV[i] .. ".XQ"
    local expired = redis.call("zrangebyscore", dead_letters, 0, expired_before, "LIMIT", 0, 1000)
    if #expired > 0 then
        redis.call("zrem", dead_letters, unpack(expired))
        redis.call("hdel", dead_letters .. ".msgs", unpack(expired))
    end
end
return requeued
