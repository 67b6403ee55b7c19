-- Enqueue a message the plain dramatiq way (actor.send(), a pipeline, a
-- group), and record its job in the same step unless it has a record (a
-- retry, a delayed message come due), with create_jobs.lua.
--
-- KEYS[1]  the queue (dramatiq's "<namespace>:<queue>")
-- KEYS[2...] create.lua's KEYS for the one job, its broker queue ""
-- ARGV[1]  the message's Redis id       ARGV[2] the encoded message
-- ARGV[3...] create.lua's ARGV for the job
--
-- Returns 1 when the job was recorded here, 0 when it had a record.
--!include queue.lua
--!include create_jobs.lua
local create_keys, create_args = {}, {}
for i = 2, #KEYS do
    create_keys[#create_keys + 1] = KEYS[i]
end
for i = 3, #ARGV do
    create_args[#create_args + 1] = ARGV[i]
end

local recorded = 0
-- create.lua's second key is the job's hash.
if redis.call("EXISTS", create_keys[2]) == 0 then
    create_jobs(create_keys, create_args)
    recorded = 1
end
enqueue(KEYS[1], ARGV[1], ARGV[2])
wake(KEYS[1])
return recorded
