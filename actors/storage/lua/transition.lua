-- Move a job to a new state, if its current state (and attempt) allows it.
-- job.lua says what the arguments are.
--
-- KEYS[1] the job's hash            KEYS[2] the job's event stream
-- ARGV    write_job's arguments, from the first
--!include job.lua
return write_job(KEYS[1], KEYS[2], ARGV, 1)
