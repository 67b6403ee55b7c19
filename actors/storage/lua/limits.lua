-- Limits per job across every worker: how many run at once, how many start
-- per period. job.lua says what write_job's arguments are.
--
-- KEYS[1] the broker's namespace
-- ARGV[1] the command: "acquire", "release" or "sweep"
-- ARGV[2] now (ms)          ARGV[3] the heartbeat timeout (ms)
-- then, for "acquire":
--   ARGV[4..7]  the job's limit: its name, concurrency (0: any), starts per
--               period (0: any), the period (ms)
--   ARGV[8..10] the message: its worker's id, its queue, its Redis id
--   ARGV[11]    its job's hash, or "" to write no record
--   ARGV[12...] write_job's arguments that hand the job back as queued
--   Returns 1 when the message may run now (it holds one of the job's slots),
--   0 when it was set aside to wait.
-- for "release": ARGV[4..7] the job's limit, ARGV[8..10] the message that ends.
-- for "sweep": ARGV[4...] limits, four arguments each, as above.
--
-- Keys, per job:
-- $namespace:limits:$job:running  the messages running: "worker|queue|id",
--   each held while its worker is alive and holds the message unacked (so a
--   slot whose release was lost frees itself with the ack, or the worker).
-- $namespace:limits:$job:waiting  messages set aside, "queue|id", scored by
--   when they may be tried again; their data stays in their queue's hash.
-- $namespace:limits:$job:rate  the starts of the last period: message ids
--   scored by when they started (so that no period ever holds more).
--!include queue.lua
--!include job.lua
local namespace = KEYS[1]
local command, now, timeout = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local heartbeats = heartbeats_key(namespace)

local function split(member)
    local parts = {}
    for part in string.gmatch(member, "[^|]+") do
        parts[#parts + 1] = part
    end
    return parts
end

local function keys(job)
    local prefix = limits_key(namespace, job)
    return limit_running_key(prefix), limit_waiting_key(prefix), limit_rate_key(prefix)
end

-- Forget the slots of messages no longer running: acked, or of a dead worker.
local function prune(running)
    for _, member in ipairs(redis.call("ZRANGE", running, 0, -1)) do
        local worker, queue, id = unpack(split(member))
        local beat = tonumber(redis.call("ZSCORE", heartbeats, worker))
        local acks = acks_key(namespace, worker, queue)
        if not beat or beat < now - timeout or redis.call("SISMEMBER", acks, id) == 0 then
            redis.call("ZREM", running, member)
        end
    end
end

-- How many started within the last period.
local function started(rate, period)
    redis.call("ZREMRANGEBYSCORE", rate, "-inf", now - period)
    return redis.call("ZCARD", rate)
end

-- How many more may start now: slots free, and what the rate allows.
local function room(running, rate, concurrency, count, period)
    local free = 1000
    if concurrency > 0 then
        free = concurrency - redis.call("ZCARD", running)
    end
    if count > 0 then
        free = math.min(free, count - started(rate, period))
    end
    return free
end

-- Put back in front of their queues as many waiting messages as may start.
local function unpark(job, concurrency, count, period)
    local running, waiting, rate = keys(job)
    prune(running)
    local free = room(running, rate, concurrency, count, period)
    if free <= 0 then
        return
    end
    local due = redis.call("ZRANGEBYSCORE", waiting, "-inf", now, "LIMIT", 0, free)
    local woken = {}
    for n = #due, 1, -1 do
        redis.call("ZREM", waiting, due[n])
        local queue, id = unpack(split(due[n]))
        local queue_key = queue_key_of(namespace, queue)
        if redis.call("HEXISTS", messages_key(queue_key), id) == 1 then
            redis.call("LPUSH", queue_key, id)
            woken[queue_key] = true
        end
    end
    for queue_key in pairs(woken) do
        wake(queue_key)
    end
end

if command == "acquire" then
    local job, concurrency, count, period = ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
    local worker, queue, id = ARGV[8], ARGV[9], ARGV[10]
    local running, waiting, rate = keys(job)
    local retry_at = nil
    if concurrency > 0 then
        prune(running)
        if redis.call("ZCARD", running) >= concurrency then
            -- Behind the others waiting: tried again when a slot frees.
            retry_at = now
        end
    end
    if not retry_at and count > 0 and started(rate, period) >= count then
        -- When the oldest start of the period leaves it.
        local oldest = redis.call("ZRANGE", rate, 0, 0, "WITHSCORES")
        retry_at = tonumber(oldest[2]) + period + 1
    end
    if retry_at then
        -- Out of this worker's hands: its ack leaves the message, its death
        -- does not hand it back; a release or a sweep puts it back in line.
        redis.call("SREM", acks_key(namespace, worker, queue), id)
        redis.call("ZADD", waiting, retry_at, queue .. "|" .. id)
        if ARGV[11] ~= "" then
            write_job(ARGV[11], events_of(ARGV[11]), ARGV, 12)
        end
        return 0
    end
    if count > 0 then
        redis.call("ZADD", rate, now, id .. "@" .. now)
        redis.call("PEXPIRE", rate, period)
    end
    if concurrency > 0 then
        redis.call("ZADD", running, now, worker .. "|" .. queue .. "|" .. id)
    end
    return 1

elseif command == "release" then
    local job = ARGV[4]
    local running = keys(job)
    redis.call("ZREM", running, ARGV[8] .. "|" .. ARGV[9] .. "|" .. ARGV[10])
    unpark(job, tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]))

elseif command == "sweep" then
    for i = 4, #ARGV, 4 do
        unpark(ARGV[i], tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2]), tonumber(ARGV[i + 3]))
    end
end
