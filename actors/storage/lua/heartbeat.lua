-- One beat of a worker process: say it is alive, hand back the messages of
-- workers that are not, and drop dead letters past their time (the
-- functions of maintenance.lua).
--
-- KEYS[1] the broker's namespace
-- ARGV[1] now (ms)                   ARGV[2] this worker's id
-- ARGV[3] this worker's beat: now, or 0 when it leaves (and is reaped at once)
-- ARGV[4] heartbeat timeout (ms), or "" to reap no one (this worker's own
--         beats failed of late: so did the others')
-- ARGV[5] dead-letter time to live (ms), or "" to leave dead letters for
--         another beat
-- ARGV[6] the messages this worker holds, as JSON: [[queue, message id], ...]
-- ARGV[7] what else this worker knows of each queue it fetches from, as JSON:
--         [[queue, the number of the last fetch whose messages it holds,
--         [ids of the messages whose ack or nack it is sending]], ...]
-- ARGV[8...] the queues this worker declared (their dead letters are expired
--            too, besides those of every queue that ever had one)
--
-- Returns how many messages of dead workers went back, how many of this
-- worker's own (see hand_back_forgotten), then the positions (from 1) in
-- ARGV[6] of the messages this worker no longer holds: it was presumed dead
-- (paused, frozen, cut off) and they were handed back.
--!include maintenance.lua
local namespace = KEYS[1]
local now = tonumber(ARGV[1])

-- Hand back to the front of the queue the messages in this worker's acks
-- that it neither holds nor is settling: their ack was answered, then lost
-- (Redis, appending every second, acknowledges writes a crash undoes), and
-- the worker forgot them. Not while the queue's latest fetch is one whose
-- messages the worker does not hold yet (its reply is on its way) or never
-- will (its reply was lost: the next fetch hands them back).
local function hand_back_forgotten(queue_name, through, known)
    local record = redis.call("get", fetched_key(namespace, ARGV[2], queue_name))
    if record and tonumber(string.match(record, "^%d+")) > through then
        return 0
    end
    local queue_acks = acks_key(namespace, ARGV[2], queue_name)
    local forgotten = {}
    for _, message_id in ipairs(redis.call("smembers", queue_acks)) do
        if not known[message_id] then
            redis.call("srem", queue_acks, message_id)
            forgotten[#forgotten + 1] = message_id
        end
    end
    return push_back(queue_key_of(namespace, queue_name), forgotten)
end

redis.call("zadd", heartbeats_key(namespace), ARGV[3], ARGV[2])

local reply = {0, 0}
if ARGV[4] ~= "" then
    reply[1] = reap_dead_workers(namespace, now, tonumber(ARGV[4]))
end

local known = {}
for position, held in ipairs(cjson.decode(ARGV[6])) do
    if redis.call("sismember", acks_key(namespace, ARGV[2], held[1]), held[2]) == 0 then
        reply[#reply + 1] = position
    end
    known[held[1]] = known[held[1]] or {}
    known[held[1]][held[2]] = true
end

-- A queue may have two consumers (dramatiq replaced one that failed): what
-- either knows is known, and the older fetch of theirs counts.
local fetched_through = {}
for _, queue in ipairs(cjson.decode(ARGV[7])) do
    local queue_name, through, settling = queue[1], queue[2], queue[3]
    known[queue_name] = known[queue_name] or {}
    for _, message_id in ipairs(settling) do
        known[queue_name][message_id] = true
    end
    fetched_through[queue_name] = math.min(fetched_through[queue_name] or through, through)
end
for queue_name, through in pairs(fetched_through) do
    reply[2] = reply[2] + hand_back_forgotten(queue_name, through, known[queue_name])
end

if ARGV[5] ~= "" then
    local declared = {}
    for i = 8, #ARGV do
        declared[#declared + 1] = ARGV[i]
    end
    expire_dead_letters(namespace, now - tonumber(ARGV[5]), declared)
end
return reply
