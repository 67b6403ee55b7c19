-- Enqueue a message the plain dramatiq way (actor.send(), a pipeline, a
-- group, a retry, a delayed message come due), and record its job in the
-- same step unless it has a record, with create_jobs.lua.
--
-- A delayed message come due is moved in this one step: off the delay
-- queue this worker holds it in, onto its queue. Never on both, it is never
-- counted twice, nor sent twice should the worker die in between; and it
-- is moved only while this worker still holds it (not once it was handed
-- to another worker, this one presumed dead).
--
-- KEYS[1]  the queue (dramatiq's "<namespace>:<queue>")
-- KEYS[2]  a delayed message come due: this worker's acks set of the delay
--          queue, else ""            KEYS[3] the delay queue's messages hash
-- KEYS[4...] create_jobs.lua's KEYS for the one job, its broker queue ""
-- ARGV[1]  the message's Redis id       ARGV[2] the encoded message
-- ARGV[3]  the delayed message's Redis id in the delay queue, else ""
-- ARGV[4]  "1": this call is made again after one whose reply was lost, else ""
-- ARGV[5...] create_jobs.lua's ARGV for the job
--
-- Returns 1 when the job was recorded here, 0 when it had a record (or the
-- message was sent already), -1 when the delayed message was no longer this
-- worker's (nothing was done).
--!include queue.lua
--!include create_jobs.lua
local FIRST_CREATE_KEY, FIRST_CREATE_ARG = 4, 5

if KEYS[2] ~= "" then
    if redis.call("SREM", KEYS[2], ARGV[3]) == 0 then
        return -1
    end
    redis.call("HDEL", KEYS[3], ARGV[3])
end

-- Sent already, by the call whose reply was lost.
if ARGV[4] == "1" and redis.call("HEXISTS", messages_key(KEYS[1]), ARGV[1]) == 1 then
    return 0
end

local create_keys, create_args = {}, {}
for i = FIRST_CREATE_KEY, #KEYS do
    create_keys[#create_keys + 1] = KEYS[i]
end
for i = FIRST_CREATE_ARG, #ARGV do
    create_args[#create_args + 1] = ARGV[i]
end

local recorded = 0
-- create_jobs.lua's second key is the job's hash.
if redis.call("EXISTS", create_keys[2]) == 0 then
    create_jobs(create_keys, create_args)
    recorded = 1
end
enqueue(KEYS[1], ARGV[1], ARGV[2])
wake(KEYS[1])
return recorded
