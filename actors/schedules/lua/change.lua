-- Pause, resume or delete a schedule.
--
-- KEYS[1] the schedule's hash, KEYS[2] every schedule, KEYS[3] the due
-- schedules, KEYS[4] its history.
-- ARGV[1] its name, ARGV[2] "pause", "resume" or "delete", ARGV[3] now (ms),
-- ARGV[4] how many entries the history keeps, ARGV[5] the next tick (resume:
-- ticks that passed while it was paused are not missed, they never run; ""
-- for none: it is finished).
--
-- Returns 1 changed, 0 already so (paused, or running), -1 no such schedule.
local schedule_key, all_key, due_key, history_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local name, change, now = ARGV[1], ARGV[2], ARGV[3]

local paused = redis.call("HGET", schedule_key, "paused")
if not paused then
    return -1
end
if change == "delete" then
    redis.call("DEL", schedule_key, history_key)
    redis.call("ZREM", all_key, name)
    redis.call("ZREM", due_key, name)
    return 1
end
local pausing = change == "pause"
if (paused == "1") == pausing then
    return 0
end
if pausing then
    redis.call("HSET", schedule_key, "paused", "1", "changed_at", now)
    redis.call("ZREM", due_key, name)
else
    redis.call("HSET", schedule_key, "paused", "0", "next_at", ARGV[5], "changed_at", now)
    if ARGV[5] ~= "" then
        redis.call("ZADD", due_key, ARGV[5], name)
    end
end
redis.call("XADD", history_key, "MAXLEN", "~", ARGV[4], "*", "kind", pausing and "paused" or "resumed",
    "at", now)
return 1
