-- How a job's record holds its latest event: "event_id" is its id, "event"
-- names the record's fields it carries besides the state and the time
-- ("updated_at"), space-separated. Included by job.lua, which writes it,
-- and by events.lua, which reads it.

-- An event as JSON: the state, the time and, for each field named
-- (space-separated), value(name), its JSON or nil for null.
local function event_json(state, at, names, value)
    local parts = {'{"state":', cjson.encode(state), ',"at":', at or "null"}
    for name in string.gmatch(names or "", "%S+") do
        parts[#parts + 1] = "," .. cjson.encode(name) .. ":" .. (value(name) or "null")
    end
    parts[#parts + 1] = "}"
    return table.concat(parts)
end

-- The last event the record at job_key holds, as JSON, and its id; nil when none.
local function held_event(job_key)
    local id, names, state, at = unpack(redis.call("HMGET", job_key, "event_id", "event", "state", "updated_at"))
    if not id then
        return nil
    end
    local function value(name)
        return redis.call("HGET", job_key, name)
    end
    return event_json(state, at, names, value), id
end
