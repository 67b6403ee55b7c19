-- Run a failed or cancelled workflow again: the steps that did not succeed
-- get new jobs, and those whose parents all succeeded are queued at once;
-- the steps that succeeded keep their jobs and results.
--
-- KEYS[1] the workflow's hash      KEYS[2] the index of all jobs
-- ARGV[1] index entries older than this stream id are trimmed
-- then four arguments per step run again, as add_steps (workflow.lua) reads them.
--
-- Returns {applied (1, 0, or -1 when there is no such workflow), the state
-- before}; nothing is written unless applied, and it is not when a step
-- given had succeeded (the caller read the workflow as it was before).
--!include workflow.lua
local wf = KEYS[1]
local state = redis.call("HGET", wf, "state")
if not state then
    return {-1, ""}
end
if state ~= "failed" and state ~= "cancelled" then
    return {0, state}
end
for a = 2, #ARGV, 4 do
    if redis.call("HGET", workflow_outcomes_key(wf), ARGV[a]) == "succeeded" then
        return {0, state}
    end
end

local steps = add_steps(wf, KEYS[2], ARGV[1], ARGV, 2)
for _, step in ipairs(steps) do
    redis.call("HDEL", workflow_outcomes_key(wf), step[1])
end
for _, step in ipairs(steps) do
    local waiting = 0
    for _, parent in ipairs(step[2].parents) do
        if redis.call("HEXISTS", workflow_outcomes_key(wf), tostring(parent)) == 0 then
            waiting = waiting + 1
        end
    end
    redis.call("HSET", workflow_waiting_key(wf), step[1], waiting)
end
for _, key in ipairs(workflow_keys(wf)) do
    redis.call("PERSIST", key)
end
local now = now_ms()
redis.call("HINCRBY", redis.call("HGET", wf, "tally"), "running", 1)
redis.call("HSET", wf, "state", "running", "unfinished", #steps, "updated_at", tostring(now))
redis.call("HDEL", wf, "finished_at", "error", "result")
add_event(wf, config(wf), {state = "running", at = now})
release_ready(wf, now)
return {1, state}
