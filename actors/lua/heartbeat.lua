-- One beat of a worker process: say it is alive, hand back the messages of
-- workers that are not, and drop dead letters past their time (the
-- functions of maintenance.lua, loaded in front of this script).
--
-- KEYS[1] the broker's namespace
-- ARGV[1] now (ms)                   ARGV[2] this worker's id
-- ARGV[3] this worker's beat: now, or 0 when it leaves (and is reaped at once)
-- ARGV[4] heartbeat timeout (ms)     ARGV[5] dead-letter time to live (ms), or
--                                    "" to leave dead letters for another beat
-- ARGV[6...] the queues this worker declared (their dead letters are expired
--            too, besides those of every queue that ever had one)
--
-- Returns how many messages of dead workers went back.
local namespace = KEYS[1]
local now = tonumber(ARGV[1])

redis.call("zadd", namespace .. ":__heartbeats__", ARGV[3], ARGV[2])

local requeued = reap_dead_workers(namespace, now, tonumber(ARGV[4]))

if ARGV[5] ~= "" then
    local declared = {}
    for i = 6, #ARGV do
        declared[#declared + 1] = ARGV[i]
    end
    expire_dead_letters(namespace, now - tonumber(ARGV[5]), declared)
end
return requeued
