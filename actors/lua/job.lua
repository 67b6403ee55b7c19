-- Writing one change of a job's record: loaded in front of the store's
-- transition.lua and of the broker's dispatch.lua, so that a worker can
-- start a job in the same script that fetches it and end it in the same
-- script that acks it.
--
-- write_job(job_key, events_key, args, i, extra) reads args[i] to args[i + 8]
-- (and sets the fields of the table extra too, if given):
--   to             the new state
--   allowed        the states it may come from, space-separated
--   fields         fields to set, as a JSON object of strings
--   event          the event to append (JSON)
--   ttl            seconds the record lives from now; 0 keeps it until it ends
--   channel        a channel to publish the job id on, or ""
--   max_events     how many events a job keeps
--   create_missing "1" to create the record when it is missing (a message
--                  that was sent without going through the API)
--   attempt        "+": this write starts a new attempt (attempts counts
--                  up); "0": the write is no run's (a user's cancel or
--                  retry); N: the write of attempt N, refused unless N is the
--                  record's latest attempt, so a stale run (one whose worker
--                  was presumed dead) cannot overwrite a newer one.
--
-- Returns {applied (1, 0, or -1 when there is no such job), the state
-- before, the job's attempt after}. The check and the write happen in one
-- step, so a worker starting a job and a user cancelling it cannot both win.
--
-- A job that is a step of a workflow (its record has a "workflow" field)
-- tells its workflow of every change it applies, through step_written
-- (set by workflow.lua, which every script loading this file loads after
-- it): a step's end is counted by the call that writes it.
local step_written
local function write_job(job_key, events_key, args, i, extra)
    local to, allowed, fields, event = args[i], args[i + 1], args[i + 2], args[i + 3]
    local ttl, channel, max_events = tonumber(args[i + 4]), args[i + 5], args[i + 6]
    local create_missing, attempt = args[i + 7], args[i + 8]

    local current, attempts, workflow =
        unpack(redis.call("HMGET", job_key, "state", "attempts", "workflow"))
    attempts = tonumber(attempts) or 0
    if not current then
        if create_missing ~= "1" then
            return {-1, "", 0}
        end
        current = ""
    elseif not string.find(" " .. allowed .. " ", " " .. current .. " ", 1, true) then
        return {0, current, attempts}
    end

    local flat = {"state", to}
    if attempt == "+" then
        attempts = attempts + 1
        flat[3], flat[4] = "attempts", tostring(attempts)
        local decoded = cjson.decode(event)
        decoded.attempts = attempts
        event = cjson.encode(decoded)
    elseif attempt ~= "0" and tonumber(attempt) ~= attempts then
        return {0, current, attempts}
    end
    -- A field set to null is removed: the record reads it as null, and
    -- keeps compact.
    local cleared = {}
    for _, set in ipairs({cjson.decode(fields), extra or {}}) do
        for name, value in pairs(set) do
            if value == "null" then
                cleared[#cleared + 1] = name
            else
                flat[#flat + 1] = name
                flat[#flat + 1] = value
            end
        end
    end
    redis.call("HSET", job_key, unpack(flat))
    if #cleared > 0 then
        redis.call("HDEL", job_key, unpack(cleared))
    end
    if ttl > 0 then
        -- The job ends: of its history only this last event is kept. Its id
        -- still follows every earlier one, so a reader resuming from any of
        -- them (or blocked on the stream) gets it and knows the job ended.
        redis.call("XTRIM", events_key, "MAXLEN", 0)
    end
    redis.call("XADD", events_key, "MAXLEN", "~", max_events, "*", "event", event)

    if ttl > 0 then
        redis.call("EXPIRE", job_key, ttl)
        -- A stream's node keeps the 4 KB it was first given; a restored copy
        -- (same id) only what it holds.
        local history = redis.call("DUMP", events_key)
        redis.call("RESTORE", events_key, ttl * 1000, history, "REPLACE")
    else
        redis.call("PERSIST", job_key)
        redis.call("PERSIST", events_key)
    end

    if channel ~= "" then
        redis.call("PUBLISH", channel, redis.call("HGET", job_key, "id"))
    end
    if workflow then
        step_written(job_key, workflow, current, to)
    end
    return {1, current, attempts}
end
