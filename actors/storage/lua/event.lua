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

-- The digits x, without the zeros it may be written with in front (Redis
-- writes none, a client may).
local function unpadded(x)
    if string.byte(x) == 48 then
        return (string.match(x, "^0*(.*)$"))
    end
    return x
end

-- Whether the number x is greater than y, both written without zeros in
-- front: the longer is, and two of a length compare as text. No number is
-- made of either.
local function greater(x, y)
    return #x > #y or (#x == #y and x > y)
end

-- Whether the event id a comes after b: by time, then sequence.
local function later(a, b)
    local a_dash, b_dash = string.find(a, "-", 1, true), string.find(b, "-", 1, true)
    local a_ms, b_ms = unpadded(string.sub(a, 1, a_dash - 1)), unpadded(string.sub(b, 1, b_dash - 1))
    if a_ms ~= b_ms then
        return greater(a_ms, b_ms)
    end
    return greater(unpadded(string.sub(a, a_dash + 1)), unpadded(string.sub(b, b_dash + 1)))
end

-- The first event id after id. Most ids are the first of their time ("-0"):
-- the next needs no number made.
local function id_after(id)
    local dash = string.find(id, "-", 1, true)
    local seq = string.sub(id, dash + 1)
    return string.sub(id, 1, dash) .. (seq == "0" and "1" or tostring(tonumber(seq) + 1))
end
