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

-- Add n to a field of a hash of counts; the count that makes the hash
-- gives it its time to live.
local function add_count(key, field, n)
    if redis.call("HINCRBY", key, field, n) == n then
        redis.call("EXPIRE", key, STATS_KEEP)
    end
end

-- Count one end, or leave it to writing_together (job.lua) to count with the others.
local function count_end(key, field)
    if not together then
        add_count(key, field, 1)
        return
    end
    local fields = together.counts[key] or {}
    together.counts[key] = fields
    fields[field] = (fields[field] or 0) + 1
end

add_counts = function(counts)
    for key, fields in pairs(counts) do
        for field, n in pairs(fields) do
            add_count(key, field, n)
        end
    end
end

job_ended = function(namespace, to, started_at, finished_at)
    local finished = tonumber(finished_at) or tonumber(redis.call("TIME")[1]) * 1000
    local span_start = math.floor(finished / 1000 / STATS_SPAN) * STATS_SPAN
    local key = stats_key(namespace, tostring(span_start))
    count_end(key, to)
    local began = tonumber(started_at)
    if began and to ~= "cancelled" then
        local ms = math.max(finished - began, 1)
        local slot = math.max(math.ceil(2 * math.log(ms) / math.log(2)), 0)
        count_end(key, "run:" .. slot)
    end
end
