-- Put dead letters back on their queue, each at most once.
--
-- KEYS[1]  <ns>:<queue>.XQ       the dead letters' ids, scored by when they died
-- KEYS[2]  <ns>:<queue>.XQ.msgs  dead letter id -> message
-- KEYS[3]  <ns>:<queue>          the queue (see queue.lua)
-- ARGV     triples: dead letter id, new message id, new message
--
-- A letter that is no longer dead (requeued or deleted meanwhile) is skipped,
-- so two admins retrying at once never run a job twice. Returns the new
-- message ids of the letters that went back on the queue.
--!include queue.lua

local moved = {}
for i = 1, #ARGV, 3 do
    local dead_id, message_id, message = ARGV[i], ARGV[i + 1], ARGV[i + 2]
    if redis.call("zrem", KEYS[1], dead_id) == 1 then
        redis.call("hdel", KEYS[2], dead_id)
        enqueue(KEYS[3], message_id, message)
        table.insert(moved, message_id)
    end
end
if #moved > 0 then
    wake(KEYS[3])
end
return moved
