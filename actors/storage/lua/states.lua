-- Which of a job's states rest and which end: the Lua side of actors/states.py
-- (tests/unit/test_lua_include.py checks that the two agree). Included by
-- job.lua, which keeps a job's keys by them (see write_job there).

-- A job that rests waits to run or has ended: its history is cut to its
-- last event (its stream lingers a moment, then goes).
local RESTING = {waiting = true, queued = true, delayed = true,
                 succeeded = true, failed = true, cancelled = true, dead = true}

-- A job that ended: its record expires with the retention.
local ENDED = {succeeded = true, failed = true, cancelled = true, dead = true}
