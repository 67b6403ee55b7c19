-- Move a job to a new state, if its current state (and attempt) allows it.
-- Loaded after job.lua, which says what the arguments are (and queue.lua and
-- workflow.lua, which a step of a workflow needs).
--
-- KEYS[1] the job's hash            KEYS[2] the job's event stream
-- ARGV    write_job's arguments, from the first
return write_job(KEYS[1], KEYS[2], ARGV, 1)
