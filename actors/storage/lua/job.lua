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
-- write_job(job_key, events_key, args, i, extra, ending) reads args[i] to
-- args[i + 9], then the fields they count (write_width says how many
-- arguments in all), and sets the fields of the table extra too, if given (a
-- script's own write), and writes the job's end at args[ending] with it, if
-- given (a start's, see rides_with):
--   to             the new state
--   allowed        the states it may come from, space-separated
--   fields         how many fields to set: their names and values follow
--                  args[i + 9], each value as the record holds it
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
--   told           the event as JSON, when the caller knows it (every field
--                  it carries is one this write sets), or "" to build it here
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
--
-- A call that writes many jobs (a worker's settle) runs its writes inside
-- writing_together, which does once for them all what each write leaves
-- to do: sweep the lingering streams (here) and add the console's counts
-- (add_counts, set by stats.lua).
--!include keys.lua
--!include states.lua
--!include event.lua
local step_written, job_ended, add_counts

-- How long a stream cut to a job's last event lingers (ms): a reader that
-- read the record just before the change and then blocks on the stream
-- still finds it there.
local LINGER_MS = 2000
-- As commands take it: a number given to redis.call is formatted anew, each call.
local LINGER_MS_TEXT = tostring(LINGER_MS)

-- While writing_together runs, what its writes leave to do once:
-- "resting", per lingering set, the key prefix of its jobs and the jobs
-- whose streams begin to linger, with their event's time; "counts", the
-- console's counts to add, by hash and field (see stats.lua).
local together

-- Ids in a sorted set, with their times, given as {time, id, ...}: in
-- commands of a bounded size, as Lua's unpack allows.
local function add_lingering(lingering, pairs_flat)
    for first = 1, #pairs_flat, 1000 do
        redis.call("ZADD", lingering, unpack(pairs_flat, first, math.min(first + 999, #pairs_flat)))
    end
end

-- Add the jobs resting (id -> event time, as text) to a lingering set, and delete the
-- streams whose time is up among its oldest (one more looked at than come).
local function sweep(lingering, jobs, resting, count)
    local latest = 0
    for _, ms in pairs(resting) do
        latest = math.max(latest, ms)
    end
    local kept = {}
    local oldest = redis.call("ZPOPMIN", lingering, count + 1)
    for k = 1, #oldest, 2 do
        local other, since = oldest[k], oldest[k + 1]
        if resting[other] then
            -- It rests again: added back below, with its new time.
        elseif tonumber(since) > latest - LINGER_MS then
            kept[#kept + 1] = since
            kept[#kept + 1] = other
        else
            -- Gone now, unless its job runs again: its stream then has no
            -- time to live, and XX leaves it.
            redis.call("PEXPIRE", events_of(jobs .. other), 0, "XX")
        end
    end
    for job_id, ms in pairs(resting) do
        kept[#kept + 1] = ms
        kept[#kept + 1] = job_id
    end
    add_lingering(lingering, kept)
end

-- The stream events_key, cut to the event at event_ms (text), lingers. Those
-- whose time is up go now, not when Redis's expiry finds them: it stops
-- looking while fewer than a tenth of the keys with a time to live have
-- expired, and every record has one, so that many streams of 4 KB could
-- stay. "<namespace>:lingering" holds their jobs' ids, by time. jobs is
-- the job's key prefix.
local function linger(job_key, jobs, events_key, event_ms)
    local lingering = lingering_key(jobs_namespace(jobs))
    local job_id = string.sub(job_key, #jobs + 1)
    if together then
        local batch = together.resting[lingering] or {jobs = jobs, resting = {}, count = 0}
        together.resting[lingering] = batch
        if not batch.resting[job_id] then
            batch.count = batch.count + 1
        end
        batch.resting[job_id] = event_ms
    else
        sweep(lingering, jobs, {[job_id] = event_ms}, 1)
    end
    -- Readers blocked on the stream wake once this script has run: a
    -- stream deleted in it would leave them waiting.
    redis.call("PEXPIRE", events_key, LINGER_MS_TEXT)
end

-- Run write_all, which writes many jobs, then sweep the lingering streams
-- once for all the jobs it left resting and add the counts of the ends it
-- wrote once each, not write by write: a settle's ends mostly share a
-- lingering set, a hash of counts and a few of its fields.
local function writing_together(write_all)
    together = {resting = {}, counts = {}}
    local result = write_all()
    local left
    left, together = together, nil
    for lingering, batch in pairs(left.resting) do
        sweep(lingering, batch.jobs, batch.resting, batch.count)
    end
    add_counts(left.counts)
    return result
end

-- How many arguments of args, from i, one write takes: ten, and its fields'.
local function write_width(args, i)
    return 10 + 2 * tonumber(args[i + 2])
end

-- Each field the write at args[i] sets, into values as the record will hold
-- it ("null": removed), if given, and the name of each it removes into names,
-- if given.
local function take_fields(args, i, values, names)
    for k = i + 10, i + write_width(args, i) - 1, 2 do
        local name, written = args[k], args[k + 1]
        if values then
            values[name] = written
        end
        if names and written == "null" then
            names[#names + 1] = name
        end
    end
end

-- Whether the write at args[j] may ride with the one at args[i], of the same
-- job, in one pass (write_job's ending): i starts an attempt the fetch
-- reserved, and j ends that attempt, the job resting. Checked on the
-- arguments alone: once i is applied, so is j.
local function rides_with(args, i, j)
    return args[i + 6] ~= "0" and args[j + 6] == "0" and args[i + 7] ~= "1"
        and args[i + 8] ~= "+" and args[i + 8] ~= "0" and args[j + 8] == args[i + 8]
        and string.find(" " .. args[j + 1] .. " ", " " .. args[i] .. " ", 1, true) ~= nil
end

local function write_job(job_key, events_key, args, i, extra, ending)
    local to, allowed, event = args[i], args[i + 1], args[i + 3]
    -- Numbers kept as the text they came as, and given to commands as such.
    local ttl, channel, max_events = args[i + 4], args[i + 5], args[i + 6]
    local create_missing, attempt = args[i + 7], args[i + 8]

    -- Each field this write sets, as the record will hold it ("null": removed),
    -- and what the write needs of the record, in one read: its state,
    -- attempt and workflow, its last event's id, and only where the write
    -- may need them, its last event, the times an end is counted by and
    -- which of the fields the write removes it has (each field named costs
    -- the read a search of the record). Built in one pass, with no table
    -- grown field by field where a constructor sizes it: a settle makes
    -- these tables for every job it writes.
    local values = {state = to}
    local names = {"state", "attempts", "workflow", "event_id"}
    if max_events ~= "0" and not ending then
        -- Its last event, which a stream that had gone starts again from.
        names[5], names[6] = "event", "updated_at"
    end
    take_fields(args, i, values, names)
    -- It starts an attempt (a numbered one: "0" is no run's): the attempt
    -- the record last started, which fences out this start sent again.
    local starts = to == "running" and values.started_at ~= nil and attempt ~= "0"
    if starts then
        names[#names + 1] = "run"
    end
    -- It ends: the times it is counted by, unless the write sets them (an
    -- end riding along reads those it does not set when it needs them).
    if ttl ~= "0" then
        if values.started_at == nil then
            names[#names + 1] = "started_at"
        end
        if values.finished_at == nil then
            names[#names + 1] = "finished_at"
        end
    end
    if extra then
        for name, written in pairs(extra) do
            values[name] = written
            if written == "null" then
                names[#names + 1] = name
            end
        end
    end
    -- With an end riding along, the fields it removes are read too.
    if ending then
        take_fields(args, ending, nil, names)
    end
    local found = redis.call("HMGET", job_key, unpack(names))
    local read = {state = found[1], attempts = found[2], workflow = found[3], event_id = found[4]}
    for k = 5, #names do
        read[names[k]] = found[k]
    end
    -- A field as the record holds it before the write.
    local function before_write(name)
        local found = read[name]
        if found == nil then
            return redis.call("HGET", job_key, name)
        end
        return found or nil
    end

    local current, attempts = read.state, tonumber(read.attempts) or 0
    if not current then
        if create_missing ~= "1" then
            return {-1, "", 0}
        end
        current = ""
    elseif not string.find(" " .. allowed .. " ", " " .. current .. " ", 1, true) then
        return {0, current, attempts}
    end
    if attempt == "+" then
        attempts = attempts + 1
        values.attempts = values.attempts or tostring(attempts)
        event = event == "" and "attempts" or event .. " attempts"
    elseif attempt ~= "0" and tonumber(attempt) ~= attempts then
        return {0, current, attempts}
    elseif starts and read.run == attempt then
        -- This attempt started before: a worker sends its writes again after
        -- a call that failed (its answer may have been lost, or its writes
        -- undone by a restart), and since, the attempt may have ended. Its
        -- end, sent again after it, is then refused as well.
        return {0, current, attempts}
    end
    if starts then
        -- Kept apart from "attempts", which a fetch counts up before the
        -- start (and a worker giving the job back counts down again).
        values.run = tostring(attempts)
    end

    -- A field as the record holds it after the write.
    local function value(name)
        local written = values[name]
        if written == nil then
            return before_write(name)
        end
        return written ~= "null" and written or nil
    end
    local told = args[i + 9] ~= "" and args[i + 9]
        or event_json(to, value("updated_at"), event, value)

    -- The job rests: its stream is cut to this event. Even a stream about
    -- to go gets it: readers blocked on it wake. A stream that had gone
    -- starts again here: its ids must go on from the record's last event,
    -- which a reader may resume after: given as after (none when the
    -- stream holds an event after it already).
    local function cut_to(told, after)
        local event_id = redis.call("XADD", events_key, "MAXLEN", "1", "*", "event", told)
        if after and not later(event_id, after) then
            event_id = redis.call("XADD", events_key, "MAXLEN", "1", id_after(after), "event", told)
        end
        return event_id
    end

    -- The end that rides with this start (see rides_with): the record gets
    -- both in one write, and whoever follows the job is told both, in order.
    -- The stream is cut to the end's event alone: the start's, which it
    -- would drop at once, is told under the id after the record's last
    -- event, and the end's comes after it.
    local started
    if ending then
        started = {to = to, channel = channel, told = told,
                   event_id = read.event_id and id_after(read.event_id) or cut_to(told, nil)}
        take_fields(args, ending, values, nil)
        values.state = args[ending]
        to, event = args[ending], args[ending + 3]
        ttl, channel, max_events = args[ending + 4], args[ending + 5], "0"
        told = args[ending + 9] ~= "" and args[ending + 9]
            or event_json(to, value("updated_at"), event, value)
    end

    local event_id
    if max_events == "0" then
        event_id = cut_to(told, started and started.event_id or read.event_id)
    else
        if RESTING[current] then
            -- The job runs again. Its stream, cut to its last event, is kept
            -- from now on if it lingers; one that has gone starts again from
            -- that event, this run's first, which a reader may resume after.
            if redis.call("PERSIST", events_key) == 0 and read.event_id then
                redis.call("XADD", events_key, read.event_id, "event",
                           event_json(current, read.updated_at, read.event, before_write))
            end
        end
        event_id = redis.call("XADD", events_key, "MAXLEN", "~", max_events, "*", "event", told)
    end
    values.event_id = event_id
    values.event = event ~= "" and event or "null"

    -- A field set to null is removed: the record reads it as null, and
    -- keeps compact.
    local flat, cleared = {}, {}
    for name, value in pairs(values) do
        if value == "null" then
            if read[name] then
                cleared[#cleared + 1] = name
            end
        else
            flat[#flat + 1] = name
            flat[#flat + 1] = value
        end
    end
    redis.call("HSET", job_key, unpack(flat))
    if #cleared > 0 then
        redis.call("HDEL", job_key, unpack(cleared))
    end

    -- The job's key prefix, found once for the writes below that need it.
    local jobs
    if max_events == "0" then
        jobs = jobs_prefix(job_key)
        linger(job_key, jobs, events_key, string.match(event_id, "^%d+"))
    end
    if ttl ~= "0" then
        redis.call("EXPIRE", job_key, ttl)
    elseif ENDED[current] then
        -- It ended, and runs or waits again (retried, or requeued).
        redis.call("PERSIST", job_key)
    end

    -- Whoever follows the job (the API's event streams and ?wait=) listens on
    -- a channel named as its event stream, and gets the event there: "<id>
    -- <JSON>". A stream cut when the job rests no longer holds every event.
    local function tell(from, to, channel, event_id, told)
        if channel ~= "" then
            redis.call("PUBLISH", channel, job_key)
        end
        redis.call("PUBLISH", events_key, event_id .. " " .. told)
        if read.workflow then
            step_written(job_key, read.workflow, from, to)
        end
    end
    if started then
        tell(current, started.to, started.channel, started.event_id, started.told)
        tell(started.to, to, channel, event_id, told)
    else
        tell(current, to, channel, event_id, told)
    end
    if ttl ~= "0" and job_ended then
        job_ended(jobs_namespace(jobs or jobs_prefix(job_key)), to, value("started_at"),
                  value("finished_at"))
    end
    return {1, current, attempts}
end

-- What every write of a job does besides: set step_written, job_ended and add_counts.
--!include workflow.lua
--!include stats.lua
