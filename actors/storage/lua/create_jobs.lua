-- create_jobs(KEYS, ARGV): create jobs, each with its record, index entry,
-- idempotency key and broker message, atomically and in one call: create.lua
-- for a submission, and the scripts that create jobs besides what they do
-- (send.lua, fire.lua). A job's first event is held by its
-- record (see job.lua): a waiting job has no event stream.
--
-- KEYS[1] the index of all jobs, then three keys per job:
--   the job's hash, its idempotency key or "" for none, and its broker queue
--   (dramatiq's "<namespace>:<queue>") or "" to write the record only.
-- ARGV[1] how long an idempotency key lives (s)
-- ARGV[2] index entries older than this stream id are trimmed
-- then, per job: its id, its actor's name (kept in the index so that
-- listing can filter cheaply), its message as the broker's "enqueue"
-- command takes it (the redis message id, then the encoded message), the
-- fingerprint of the request its idempotency key guards ("" for none), the
-- number of its record's fields, and those fields as HSET takes them (name,
-- value, ...; its first event's id included). Given flat, the record goes
-- into its hash as it came, with nothing to decode.
--
-- An idempotency key holds "<job id> <fingerprint>".
--
-- Returns {created, id} per job, in order: {1, id} when the job is created,
-- or was by an earlier run of this same call (its own record exists, or its
-- idempotency key names its own id: the call is made again because its reply
-- was lost), in which case nothing is written again and the caller answers as
-- the first run would have; {0, existing id} when the idempotency key names
-- another job, one an earlier request submitted. Concurrent duplicates race
-- here, inside Redis, and exactly one of them wins. {-1, existing id} alone,
-- and nothing written at all, when a key names a job submitted with another
-- request.
--!include queue.lua

local function create_jobs(KEYS, ARGV)
    local KEYS_PER_JOB, ARGS_BEFORE_FIELDS = 3, 6
    local jobs = (#KEYS - 1) / KEYS_PER_JOB

    -- Everything is checked before the first write: Redis does not undo the
    -- writes of a script that fails halfway. Where each job's arguments
    -- start is found on the way: a record has as many fields as it needs.
    -- existing: the job another request made under the same key; again: this
    -- call's own job, written by an earlier run of it whose reply was lost.
    local starts, existing, again = {}, {}, {}
    local a = 2
    for job = 1, jobs do
        local k = 1 + (job - 1) * KEYS_PER_JOB
        starts[job] = a
        local idempotency_key = KEYS[k + 2]
        local held = idempotency_key ~= "" and redis.call("GET", idempotency_key)
        if held then
            local space = string.find(held, " ", 1, true)
            local job_id = space and string.sub(held, 1, space - 1) or held
            local fingerprint = space and string.sub(held, space + 1) or ""
            if fingerprint ~= "" and ARGV[a + 5] ~= "" and fingerprint ~= ARGV[a + 5] then
                return {-1, job_id}
            end
            if job_id == ARGV[a + 1] then
                again[job] = true
            else
                existing[job] = job_id
            end
        elseif redis.call("EXISTS", KEYS[k + 1]) == 1 then
            again[job] = true
        end
        a = a + ARGS_BEFORE_FIELDS + 2 * tonumber(ARGV[a + 6])
    end

    local replies = {}
    local messages = gathered_messages()
    local written, trimmed = false, false
    for job = 1, jobs do
        local k, a = 1 + (job - 1) * KEYS_PER_JOB, starts[job]
        local job_key, idempotency_key, queue_key = KEYS[k + 1], KEYS[k + 2], KEYS[k + 3]
        local job_id, actor = ARGV[a + 1], ARGV[a + 2]
        if existing[job] then
            replies[#replies + 1] = 0
            replies[#replies + 1] = existing[job]
        elseif again[job] then
            replies[#replies + 1] = 1
            replies[#replies + 1] = job_id
        else
            if idempotency_key ~= "" then
                redis.call("SET", idempotency_key, job_id .. " " .. ARGV[a + 5], "EX", ARGV[1])
            end
            local first = a + ARGS_BEFORE_FIELDS + 1
            redis.call("HSET", job_key, unpack(ARGV, first, first - 1 + 2 * tonumber(ARGV[a + 6])))
            if job == jobs then
                -- The call's last entry trims the index, for all of them.
                redis.call("XADD", KEYS[1], "MINID", "~", ARGV[2], "*", "id", job_id, "actor", actor)
                trimmed = true
            else
                redis.call("XADD", KEYS[1], "*", "id", job_id, "actor", actor)
                written = true
            end
            if queue_key ~= "" then
                messages.add(queue_key, ARGV[a + 3], ARGV[a + 4])
            end
            replies[#replies + 1] = 1
            replies[#replies + 1] = job_id
        end
    end
    messages.enqueue()
    if written and not trimmed then
        -- The index trimmed once for all its new entries: a trim costs more
        -- than an entry. Its last one does it, unless that job was there already.
        redis.call("XTRIM", KEYS[1], "MINID", "~", ARGV[2])
    end
    return replies
end
