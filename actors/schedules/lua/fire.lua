-- Fire a schedule: claim its due ticks and create their jobs, in one step.
--
-- The jobs are written by create_jobs (create_jobs.lua), exactly as a
-- submission writes them. The claim is a
-- compare-and-set on the schedule's next tick and version: of any number of
-- firers that read the same due tick, the first call wins and the others
-- write nothing. Each job's id is derived from the schedule and its tick, so
-- that a tick's job is the same whoever fires it.
--
-- KEYS[1] the schedule's hash, KEYS[2] the due schedules (a sorted set),
-- KEYS[3] its history (a stream); then create.lua's KEYS.
-- ARGV[1] the schedule's name
-- ARGV[2] the tick claimed: the next_at the firer read; "" to run now,
--         claiming no tick (the jobs are written, the schedule's ticks stay)
-- ARGV[3] the version the firer read
-- ARGV[4] the next tick after those fired; "" for none: the schedule is
--         finished, and leaves the due schedules
-- ARGV[5] how many ticks were missed
-- ARGV[6] the history entries to add: a JSON array of objects of strings
-- ARGV[7] how many entries the history keeps
-- ARGV[8] the last tick that ran a job ("" for none), ARGV[9] its job's id
-- ARGV[10] the most ticks that may ever run a job ("" for no limit): the
--          ticks fired are counted in this call, so none runs past it
-- ARGV[11] count of create.lua's ARGV that follow
-- then create.lua's ARGV.
--
-- Returns 1 when fired, 0 when another firer (or a change) came first, -1
-- when there is no such schedule (or, claiming a tick, it is paused).
--!include queue.lua
--!include create_jobs.lua
local schedule_key, due_key, history_key = KEYS[1], KEYS[2], KEYS[3]
local name, claimed, version = ARGV[1], ARGV[2], ARGV[3]

local state = redis.call("HMGET", schedule_key, "next_at", "version", "paused", "fired")
if not state[1] then
    return -1
end
local jobs = (#KEYS - 4) / 3
if claimed ~= "" then
    if state[3] == "1" then
        return -1
    end
    if state[1] ~= claimed or state[2] ~= version then
        return 0
    end
    if ARGV[10] ~= "" and tonumber(state[4]) + jobs > tonumber(ARGV[10]) then
        return 0
    end
end

local entries = cjson.decode(ARGV[6])
local create_keys, create_args = {}, {}
for i = 4, #KEYS do
    create_keys[#create_keys + 1] = KEYS[i]
end
for i = 12, 11 + tonumber(ARGV[11]) do
    create_args[#create_args + 1] = ARGV[i]
end
create_jobs(create_keys, create_args)

if claimed ~= "" then
    redis.call("HSET", schedule_key, "next_at", ARGV[4])
    if ARGV[4] == "" then
        redis.call("ZREM", due_key, name)
    else
        redis.call("ZADD", due_key, ARGV[4], name)
    end
    redis.call("HINCRBY", schedule_key, "missed", ARGV[5])
    redis.call("HINCRBY", schedule_key, "fired", jobs)
end
if jobs > 0 then
    redis.call("HSET", schedule_key, "last_at", ARGV[8], "last_job", ARGV[9])
end
for _, entry in ipairs(entries) do
    local fields = {}
    for field, value in pairs(entry) do
        fields[#fields + 1] = field
        fields[#fields + 1] = value
    end
    redis.call("XADD", history_key, "MAXLEN", "~", ARGV[7], "*", unpack(fields))
end
return 1
