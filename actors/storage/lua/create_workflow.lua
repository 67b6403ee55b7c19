-- Create a workflow: its record, every step's job (waiting), and the
-- messages of the steps that wait for none, atomically and in one call.
-- workflow.lua says what the workflow's keys hold.
--
-- KEYS[1] the workflow's hash      KEYS[2] the index of all jobs
-- KEYS[3] the index of all workflows
-- ARGV[1] the workflow's record, a JSON object of strings
-- ARGV[2] index entries older than this stream id are trimmed
-- ARGV[3] the workflow's id
-- then four arguments per step, as add_steps (workflow.lua) reads them.
--
-- Returns the workflow's id. Nothing is written when its record exists already.
--!include workflow.lua
local wf = KEYS[1]
-- Written already: this call is a client's retry of one whose reply was lost.
if redis.call("EXISTS", wf) == 1 then
    return ARGV[3]
end
local flat = {}
for name, value in pairs(cjson.decode(ARGV[1])) do
    flat[#flat + 1] = name
    flat[#flat + 1] = value
end
redis.call("HSET", wf, unpack(flat))
local steps = add_steps(wf, KEYS[2], ARGV[2], ARGV, 4)
for _, step in ipairs(steps) do
    redis.call("HSET", workflow_waiting_key(wf), step[1], #step[2].parents)
end
redis.call("XADD", KEYS[3], "MINID", "~", ARGV[2], "*", "id", ARGV[3])
local now = now_ms()
redis.call("HINCRBY", redis.call("HGET", wf, "tally"), "running", 1)
add_event(wf, config(wf), {state = "running", at = now})
release_ready(wf, now)
return ARGV[3]
