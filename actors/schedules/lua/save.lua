-- Create, replace or declare a schedule's definition, keeping what became of it.
--
-- KEYS[1] the schedule's hash, KEYS[2] every schedule (a sorted set, by
-- name), KEYS[3] the due schedules (a sorted set, by next tick), KEYS[4] its
-- history (a stream).
-- ARGV[1] its name
-- ARGV[2] "create" (over HTTP: refused if the name is taken), "replace"
--         (over HTTP: refused for a schedule declared in code) or "declare"
--         (from code at start: created, or updated if it changed)
-- ARGV[3] the definition (JSON), ARGV[4] its source ("code" or "api")
-- ARGV[5] its next tick ("" for none: it is finished), ARGV[6] now (ms)
-- ARGV[7] how many entries the history keeps
-- ARGV[8] the next_at read before, for "replace" and "declare": the next
--         tick was worked out from what was read, so nothing may have fired
--         or changed since (compare-and-set)
--
-- Returns 1 created, 2 updated, 3 unchanged, 0 the name is taken, -1 no
-- such schedule, -2 it is declared in code (or, declaring, over HTTP), -3
-- it fired or changed since it was read (read it again and retry).
local schedule_key, all_key, due_key, history_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local name, mode, definition, source = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local next_at, now, history_length, read_next_at = ARGV[5], ARGV[6], ARGV[7], ARGV[8]

local existing = redis.call("HMGET", schedule_key, "definition", "source", "next_at", "paused")
if not existing[1] then
    if mode == "replace" then
        return -1
    end
    redis.call("HSET", schedule_key, "definition", definition, "source", source, "paused", "0",
        "version", "1", "next_at", next_at, "fired", "0", "missed", "0",
        "created_at", now, "changed_at", now)
    redis.call("ZADD", all_key, 0, name)
    if next_at ~= "" then
        redis.call("ZADD", due_key, next_at, name)
    end
    redis.call("XADD", history_key, "MAXLEN", "~", history_length, "*", "kind", "created", "at", now)
    return 1
end
if mode == "create" then
    return 0
end
if existing[2] ~= source then
    return -2
end
if existing[1] == definition then
    return 3
end
if existing[3] ~= read_next_at then
    return -3
end
redis.call("HSET", schedule_key, "definition", definition, "next_at", next_at, "changed_at", now)
redis.call("HINCRBY", schedule_key, "version", 1)
if next_at == "" then
    redis.call("ZREM", due_key, name)
elseif existing[4] ~= "1" then
    redis.call("ZADD", due_key, next_at, name)
end
redis.call("XADD", history_key, "MAXLEN", "~", history_length, "*", "kind", "updated", "at", now)
return 2
