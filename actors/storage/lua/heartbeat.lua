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
-- ARGV[7...] the queues this worker declared (their dead letters are expired
--            too, besides those of every queue that ever had one)
--
-- Returns how many messages of dead workers went back, then the positions
-- (from 1) in ARGV[6] of the messages this worker no longer holds: it was
-- presumed dead (paused, frozen, cut off) and they were handed back.
--!include maintenance.lua
local namespace = KEYS[1]
local now = tonumber(ARGV[1])

redis.call("zadd", heartbeats_key(namespace), ARGV[3], ARGV[2])

local reply = {0}
if ARGV[4] ~= "" then
    reply[1] = reap_dead_workers(namespace, now, tonumber(ARGV[4]))
end

for position, held in ipairs(cjson.decode(ARGV[6])) do
    if redis.call("sismember", acks_key(namespace, ARGV[2], held[1]), held[2]) == 0 then
        reply[#reply + 1] = position
    end
end

if ARGV[5] ~= "" then
    local declared = {}
    for i = 7, #ARGV do
        declared[#declared + 1] = ARGV[i]
    end
    expire_dead_letters(namespace, now - tonumber(ARGV[5]), declared)
end
return reply
