-- Writing one change of a job's record: included by every script that
-- writes one (the store's transition.lua, the broker's dispatch.lua...), so
-- that a worker can start a job in the same script that fetches it and end
-- it in the same script that acks it.
--
-- A job's latest event is held by its record (see event.lua). Its history is a stream
-- only while it runs: once it waits again (waiting, queued, delayed) or
-- ends, the stream is cut to that last event, which lingers for a moment
-- (LINGER_MS) for the readers that were about to block on it, and then only
-- the record holds it. Waiting and finished jobs, the many, cost no stream.
--
-- write_job(job_key, events_key, args, i, extra) reads args[i] to args[i + 8]
-- (and sets the fields of the table extra too, if given):
--   to             the new state
--   allowed        the states it may come from, space-separated
--   fields         fields to set, as a JSON object of strings
--   event          the fields its event carries besides state and time,
--                  space-separated
--   ttl            seconds the record lives from now; 0 keeps it until it ends
--   channel        a channel to publish the job's key on, or ""
--   max_events     how many events a running job's stream keeps; 0 when the
--                  job waits or ends (its stream then goes)
--   create_missing "1" to create the record when it is missing (a message
--                  that was sent without going through the API)
--   attempt        "+": this write starts a new attempt (attempts counts
--                  up, and the event carries it); "0": the write is no run's
--                  (a user's cancel or retry); N: the write of attempt N,
--                  refused unless N is the record's latest attempt, so a
--                  stale run (one whose worker was presumed dead) cannot
--                  overwrite a newer one.
--
-- Returns {applied (1, 0, or -1 when there is no such job), the state
-- before, the job's attempt after}. The check and the write happen in one
-- step, so a worker starting a job and a user cancelling it cannot both win.
--
-- A job that is a step of a workflow (its record has a "workflow" field)
-- tells its workflow of every change it applies, through step_written
-- (set by workflow.lua, included at the end of this file): a step's end is
-- counted by the call that writes it. Every end is counted for the console
-- too, through job_ended (set by stats.lua, included there too).
--!include keys.lua
--!include event.lua
local step_written, job_ended

-- How long a stream cut to a job's last event lingers (ms): a reader that
-- read the record just before the change and then blocks on the stream
-- still finds it there.
local LINGER_MS = 2000

-- The stream events_key, cut to the event at event_ms, lingers. Those
-- whose time is up go now (two at most: one more than come each time),
-- not when Redis's expiry finds them: it stops looking while fewer than a
-- tenth of the keys with a time to live have expired, and every record has
-- one, so that many streams of 4 KB could stay. "<namespace>:lingering"
-- holds their jobs' ids, by time.
local function linger(job_key, events_key, event_ms)
    local jobs = jobs_prefix(job_key)
    local lingering = lingering_key(store_namespace(job_key))
    for _, job_id in ipairs(redis.call("ZRANGEBYSCORE", lingering, 0, event_ms - LINGER_MS, "LIMIT", 0, 2)) do
        local stream = events_of(jobs .. job_id)
        -- Unless its job runs again: its stream then has no time to live.
        if redis.call("PTTL", stream) >= 0 then
            redis.call("DEL", stream)
        end
        redis.call("ZREM", lingering, job_id)
    end
    redis.call("ZADD", lingering, event_ms, string.sub(job_key, #jobs + 1))
    -- Readers blocked on the stream wake once this script has run: a
    -- stream deleted in it would leave them waiting.
    redis.call("PEXPIRE", events_key, LINGER_MS)
end

local function write_job(job_key, events_key, args, i, extra)
    local to, allowed, fields, event = args[i], args[i + 1], args[i + 2], args[i + 3]
    local ttl, channel, max_events = tonumber(args[i + 4]), args[i + 5], tonumber(args[i + 6])
    local create_missing, attempt = args[i + 7], args[i + 8]

    local current, attempts, workflow, started_at, finished_at = unpack(redis.call(
        "HMGET", job_key, "state", "attempts", "workflow", "started_at", "finished_at"))
    attempts = tonumber(attempts) or 0
    if not current then
        if create_missing ~= "1" then
            return {-1, "", 0}
        end
        current = ""
    elseif not string.find(" " .. allowed .. " ", " " .. current .. " ", 1, true) then
        return {0, current, attempts}
    end

    -- Each field this write sets, as the record will hold it ("null": removed).
    local values = {state = to}
    if attempt == "+" then
        attempts = attempts + 1
        values.attempts = tostring(attempts)
        event = event == "" and "attempts" or event .. " attempts"
    elseif attempt ~= "0" and tonumber(attempt) ~= attempts then
        return {0, current, attempts}
    end
    for _, set in ipairs({cjson.decode(fields), extra or {}}) do
        for name, value in pairs(set) do
            values[name] = value
        end
    end

    -- The stream's ids must go on from the record's last event, which a
    -- reader may resume after: a stream that has gone starts again from it.
    if redis.call("EXISTS", events_key) == 0 then
        local last, last_id = held_event(job_key)
        if last then
            redis.call("XADD", events_key, last_id, "event", last)
        end
    end
    local rests = max_events == 0
    if rests then
        redis.call("XTRIM", events_key, "MAXLEN", 0)
    end
    -- The fields read above, as the record held them (false: it did not).
    local read = {started_at = started_at, finished_at = finished_at}
    local function value(name)
        local written = values[name]
        if written == nil then
            written = read[name]
            if written == nil then
                return redis.call("HGET", job_key, name)
            end
            return written or nil
        end
        return written ~= "null" and written or nil
    end
    -- Even a stream about to go gets the event: readers blocked on it wake.
    local told = event_json(to, value("updated_at"), event, value)
    local event_id = redis.call("XADD", events_key, "MAXLEN", "~", math.max(max_events, 1), "*",
                                "event", told)
    values.event_id = event_id
    values.event = event ~= "" and event or "null"

    -- A field set to null is removed: the record reads it as null, and
    -- keeps compact.
    local flat, cleared = {}, {}
    for name, value in pairs(values) do
        if value == "null" then
            cleared[#cleared + 1] = name
        else
            flat[#flat + 1] = name
            flat[#flat + 1] = value
        end
    end
    redis.call("HSET", job_key, unpack(flat))
    if #cleared > 0 then
        redis.call("HDEL", job_key, unpack(cleared))
    end

    if rests then
        linger(job_key, events_key, tonumber(string.match(event_id, "^%d+")))
    else
        redis.call("PERSIST", events_key)
    end
    if ttl > 0 then
        redis.call("EXPIRE", job_key, ttl)
    else
        redis.call("PERSIST", job_key)
    end

    if channel ~= "" then
        redis.call("PUBLISH", channel, job_key)
    end
    -- Whoever follows the job (the API's event streams and ?wait=) listens on
    -- a channel named as its event stream, and gets the event there: "<id>
    -- <JSON>". A stream cut when the job rests no longer holds every event.
    redis.call("PUBLISH", events_key, event_id .. " " .. told)
    if workflow then
        step_written(job_key, workflow, current, to)
    end
    if ttl > 0 and job_ended then
        job_ended(job_key, to, value("started_at"), value("finished_at"))
    end
    return {1, current, attempts}
end

-- What every write of a job does besides: set step_written and job_ended.
--!include workflow.lua
--!include stats.lua
