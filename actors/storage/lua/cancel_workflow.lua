-- Cancel a running workflow: it ends "cancelled", and every step that has
-- not ended with it.
--
-- KEYS[1] the workflow's hash
--
-- Returns {applied (1, 0, or -1 when there is no such workflow), the state before}.
--!include workflow.lua
local state = redis.call("HGET", KEYS[1], "state")
if not state then
    return {-1, ""}
end
if state ~= "running" then
    return {0, state}
end
stop_workflow(KEYS[1], "cancelled", now_ms(), {})
return {1, state}
