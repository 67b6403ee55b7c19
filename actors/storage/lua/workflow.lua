-- Workflows: a DAG of steps, each an ordinary job, moved on by the writes of
-- its steps' records. Included at the end of job.lua, so that every script
-- that writes job records has it, it sets job.lua's step_written: a step's end is counted, and the steps after it released, in
-- the very call that records the end. A step's end is applied once
-- (write_job checks the state it comes from, and the attempt), and counted
-- once besides (its outcome is set only if it has none), so however
-- its worker dies and its message is redelivered, no step after it starts
-- twice for one end of the steps before it.
--
-- Keys, <wf> being "<namespace>:workflow:<id>":
--   <wf>           hash: state (running, succeeded, failed, cancelled), the
--                  times, unfinished (steps not ended), result and error (JSON),
--                  output (which steps' results are the workflow's), and what
--                  the scripts need: jobs (the job keys' prefix), channel (of
--                  cancellations), retention, max_events, max_input, tally
--   <wf>:steps     hash: step -> its definition (JSON): job (its job's id),
--                  parents, children, gathers (takes its parents' results as
--                  a list), receives (takes them at all), on_failure (fail,
--                  ignore, continue), sent_to (its queue), message_id, and its
--                  message and arguments cut where its parents' results go:
--                  head, tail, given
--   <wf>:waiting   hash: step -> how many of its parents have not ended
--   <wf>:outcomes  hash: step -> the state it ended in, once counted
--   <wf>:events    stream of {"event": JSON}: each step's changes, then the end
-- <tally> (a hash) counts for the metrics the workflows running now
-- ("running"), and those that ever ended, by state.
--!include queue.lua
--!include job.lua

local STEP_ENDS = {succeeded = true, failed = true, dead = true, cancelled = true}
--- The states a step may still be stopped from.
local STOPPABLE = "waiting queued delayed running retrying"

local function now_ms()
    local time = redis.call("TIME")
    return tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
end

local function config(wf)
    local values = redis.call("HMGET", wf, "jobs", "channel", "retention", "max_events", "max_input")
    return {
        jobs = values[1], channel = values[2], retention = values[3],
        max_events = values[4], max_input = tonumber(values[5]),
    }
end

local function step_definition(wf, step)
    return cjson.decode(redis.call("HGET", workflow_steps_key(wf), step))
end

local function add_event(wf, conf, event)
    local told = cjson.encode(event)
    local event_id = redis.call("XADD", events_of(wf), "MAXLEN", "~", conf.max_events, "*",
                                "event", told)
    -- Whoever follows the workflow (the API's event streams) listens on a
    -- channel named as its event stream, and gets the event there, as for a
    -- job's (job.lua).
    redis.call("PUBLISH", events_of(wf), event_id .. " " .. told)
end

-- A job's end, written the way lifecycle.py writes one.
local function end_job(job_key, conf, to, now, fields, channel)
    fields.finished_at = tostring(now)
    fields.updated_at = tostring(now)
    -- Its event tells the error, if any (job.lua: an ended job's stream goes).
    return write_job(job_key, events_of(job_key),
        {to, STOPPABLE, "0", fields.error and "error" or "", conf.retention,
         channel or "", "0", "0", "0", ""}, 1, fields)
end

-- The results the steps ``parents`` hand on, as JSON text: their list when
-- ``gathers``, else the one result; nil when there is nothing to hand on (a
-- single parent that failed under "continue").
local function results_of(wf, conf, parents, gathers)
    local results = {}
    for _, parent in ipairs(parents) do
        parent = tostring(parent)
        local outcome = redis.call("HGET", workflow_outcomes_key(wf), parent)
        local definition = step_definition(wf, parent)
        if outcome == "succeeded" then
            results[#results + 1] =
                redis.call("HGET", conf.jobs .. definition.job, "result") or "null"
        elseif definition.on_failure == "ignore" then
            results[#results + 1] = "null"
        end
        -- "continue": the step goes on without it.
    end
    if gathers then
        return "[" .. table.concat(results, ",") .. "]"
    end
    return results[1]
end

local function end_workflow(wf, conf, state, now, fields)
    local flat = {"state", state, "finished_at", tostring(now), "updated_at", tostring(now)}
    for name, value in pairs(fields) do
        flat[#flat + 1] = name
        flat[#flat + 1] = value
    end
    redis.call("HSET", wf, unpack(flat))
    add_event(wf, conf, {state = state, at = now})
    for _, key in ipairs(workflow_keys(wf)) do
        redis.call("EXPIRE", key, conf.retention)
    end
    local tally = redis.call("HGET", wf, "tally")
    redis.call("HINCRBY", tally, "running", -1)
    redis.call("HINCRBY", tally, state, 1)
end

-- Stop every step that has not ended: a waiting or queued one never runs, a
-- running one is interrupted where it runs. Their ends count for nothing:
-- the workflow has ended first.
local function stop_steps(wf, conf, now)
    local definitions = redis.call("HVALS", workflow_steps_key(wf))
    for _, definition in ipairs(definitions) do
        local job_key = conf.jobs .. cjson.decode(definition).job
        end_job(job_key, conf, "cancelled", now, {}, conf.channel)
    end
end

local function stop_workflow(wf, state, now, fields)
    local conf = config(wf)
    end_workflow(wf, conf, state, now, fields)
    stop_steps(wf, conf, now)
end

-- A waiting step whose parents have all ended: queue its job, its parents'
-- results in front of its arguments, and send its message.
local function release(wf, step, now)
    if redis.call("HGET", wf, "state") ~= "running" then
        return
    end
    local conf = config(wf)
    local definition = step_definition(wf, step)
    local job_key = conf.jobs .. definition.job
    local input = nil
    if definition.receives then
        input = results_of(wf, conf, definition.parents, definition.gathers)
    end
    if input and #input > conf.max_input then
        local error = {type = "InputTooLarge", message = string.format(
            "the results of the steps before it take %d bytes; at most %d are handed on",
            #input, conf.max_input)}
        end_job(job_key, conf, "failed", now, {error = cjson.encode(error)})
        return
    end
    local args, tail = definition.given, definition.tail
    if input then
        args = "[" .. input .. (args == "]" and "" or ",") .. args
    else
        args = "[" .. args
        if string.sub(tail, 1, 1) == "," then
            tail = string.sub(tail, 2)
        end
    end
    local fields = {args = args, enqueued_at = tostring(now), eta = tostring(now),
                    updated_at = tostring(now)}
    local written = write_job(job_key, events_of(job_key),
        {"queued", "waiting", "0", "", "0", "", "0", "0", "0", ""}, 1, fields)
    if written[1] == 1 then
        enqueue(definition.sent_to, definition.message_id,
                definition.head .. (input or "") .. tail .. string.format("%d}", now))
        wake(definition.sent_to)
    end
end

-- Every step with no parent left to wait for: the first steps of a
-- workflow, or those of a retried one whose parents succeeded before.
local function release_ready(wf, now)
    local waiting = redis.call("HGETALL", workflow_waiting_key(wf))
    for i = 1, #waiting, 2 do
        if waiting[i + 1] == "0" then
            release(wf, waiting[i], now)
        end
    end
end

step_written = function(job_key, link, before, to)
    if before == to then
        return -- a progress report: the workflow shows states only
    end
    link = cjson.decode(link)
    local wf = workflow_key(store_namespace(job_key), link.id)
    if redis.call("HGET", wf, "state") ~= "running" then
        return
    end
    local conf = config(wf)
    local step = tostring(link.step)
    local definition = step_definition(wf, step)
    if conf.jobs .. definition.job ~= job_key then
        return -- a job of an earlier run of this step: the workflow was retried since
    end
    local now = now_ms()
    add_event(wf, conf, {state = "running", at = now, step = link.step, step_state = to})
    if not STEP_ENDS[to] or redis.call("HSETNX", workflow_outcomes_key(wf), step, to) == 0 then
        return
    end
    if to ~= "succeeded" and definition.on_failure == "fail" then
        local error = {step = link.step, job = definition.job, state = to}
        stop_workflow(wf, "failed", now, {error = cjson.encode(error)})
        return
    end
    for _, child in ipairs(definition.children) do
        if redis.call("HINCRBY", workflow_waiting_key(wf), child, -1) == 0 then
            release(wf, tostring(child), now)
        end
    end
    if redis.call("HINCRBY", wf, "unfinished", -1) == 0
            and redis.call("HGET", wf, "state") == "running" then
        local output = cjson.decode(redis.call("HGET", wf, "output"))
        local result = results_of(wf, conf, output.parents, output.gathers) or "null"
        end_workflow(wf, conf, "succeeded", now, {result = result})
    end
end

-- Write the steps given in args from args[i] on, four arguments each: its
-- number, its definition (JSON), its job's record (a JSON object of
-- strings, holding its first event), and its actor's name (for the index of
-- jobs, KEYS-like ``jobs_index``, trimmed before ``min_id``). Every
-- argument is decoded before the first write: Redis does not undo the
-- writes of a script that fails halfway.
local function add_steps(wf, jobs_index, min_id, args, i)
    local conf = config(wf)
    local steps = {}
    for a = i, #args, 4 do
        local flat = {}
        for name, value in pairs(cjson.decode(args[a + 2])) do
            flat[#flat + 1] = name
            flat[#flat + 1] = value
        end
        steps[#steps + 1] = {args[a], cjson.decode(args[a + 1]), flat}
    end
    for n, step in ipairs(steps) do
        local a = i + (n - 1) * 4
        local job_id = step[2].job
        local job_key = conf.jobs .. job_id
        redis.call("HSET", workflow_steps_key(wf), step[1], args[a + 1])
        redis.call("HSET", job_key, unpack(step[3]))
        redis.call("XADD", jobs_index, "MINID", "~", min_id, "*", "id", job_id,
                   "actor", args[a + 3])
    end
    return steps
end
