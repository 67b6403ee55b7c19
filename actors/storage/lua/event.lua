-- How a job's record holds its latest event: "event_id" is its id, "event"
-- names the record's fields it carries besides the state and the time
-- ("updated_at"), space-separated. Included by job.lua, which writes it,
-- and by events.lua, which reads it. Event ids are stream ids, "<ms>-<seq>".

-- An event as JSON: the state, the time and, for each field named
-- (space-separated), value(name), its JSON or nil for null. States and
-- field names are words of letters and underscores: quoted, they are
-- their JSON, with no encoder called for each.
local function event_json(state, at, names, value)
    local parts = {'{"state":"', state, '","at":', at or "null"}
    for name in string.gmatch(names or "", "%S+") do
        parts[#parts + 1] = ',"' .. name .. '":' .. (value(name) or "null")
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

-- Whether the event id a comes after b.
local function later(a, b)
    local a_ms, a_seq = string.match(a, "^(%d+)-(%d+)$")
    local b_ms, b_seq = string.match(b, "^(%d+)-(%d+)$")
    a_ms, a_seq, b_ms, b_seq = tonumber(a_ms), tonumber(a_seq), tonumber(b_ms), tonumber(b_seq)
    return a_ms > b_ms or (a_ms == b_ms and a_seq > b_seq)
end

-- The first event id after id.
local function id_after(id)
    local ms, seq = string.match(id, "^(%d+)-(%d+)$")
    return ms .. "-" .. (tonumber(seq) + 1)
end
