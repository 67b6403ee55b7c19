-- The figures the console draws, counted by the write that ends a job (see
-- job_ended in job.lua), so that they cost no round trip of their own and
-- need no Prometheus. Included at the end of job.lua, so that every script
-- that writes job records has it; actors/stats.py reads them.
--
-- "<namespace>:stats:<second>", one hash per STATS_SPAN seconds (<second> is
-- the first of them, in Unix time), kept for STATS_KEEP seconds:
--   <state>   jobs that ended in that state (succeeded, failed, dead, cancelled)
--   run:<n>   attempts that ended after running between 2^((n-1)/2) and
--             2^(n/2) milliseconds: a histogram the percentiles are read from
--!include job.lua
local STATS_SPAN, STATS_KEEP = 10, 3900

job_ended = function(job_key, to, started_at, finished_at)
    local finished = tonumber(finished_at) or tonumber(redis.call("TIME")[1]) * 1000
    local span_start = math.floor(finished / 1000 / STATS_SPAN) * STATS_SPAN
    local key = stats_key(store_namespace(job_key), tostring(span_start))
    -- The span's first count of this end makes the hash, or finds it made
    -- (and kept) by another: either way it is kept for STATS_KEEP from now.
    if redis.call("HINCRBY", key, to, 1) == 1 then
        redis.call("EXPIRE", key, STATS_KEEP)
    end
    local began = tonumber(started_at)
    if began and to ~= "cancelled" then
        local ms = math.max(finished - began, 1)
        local slot = math.max(math.ceil(2 * math.log(ms) / math.log(2)), 0)
        redis.call("HINCRBY", key, "run:" .. slot, 1)
    end
end
