-- The broker's commands: dramatiq 2.2.1's brokers/redis/dispatch.lua
-- (Copyright (C) 2017-2020 CLEARTYPE SRL, LGPL-3.0-or-later), changed so that:
--
-- * only worker processes count as workers: a heartbeat comes from the
--   Heartbeat middleware (heartbeat.lua) and from a fetch, not from every
--   command, so a process that only enqueues (an API instance) is never
--   listed as one;
-- * dead workers are found by heartbeat.lua, every beat; maintenance, when
--   dramatiq's maintenance_chance asks for it, runs the same functions
--   (maintenance.lua) and expires dead letters of every queue;
-- * a consumer records the queues it holds messages of, so that finding a
--   dead worker's messages needs no KEYS scan of the whole keyspace;
-- * enqueue leaves a wake-up token that an idle consumer blocks on, so a
--   job waiting for a worker is taken at once rather than after a backoff;
-- * messages handed back (requeue) go to the front of their queue: they
--   were next in line;
-- * fetches are numbered by the worker, and the latest that ran recorded,
--   so that the messages a fetch took go back to their queue when its reply
--   was lost (see fetch);
-- * with a job store's arguments, fetch reserves an attempt at each job
--   it takes (the job stays queued: no thread runs it yet) and drops the
--   message of a job that may not run (cancelled, or already succeeded);
--   settle writes the starts that worker threads hand over, and acks and
--   nacks several messages at once, writing each job's end: a job costs
--   its worker no round trip besides the broker's own, and starts and acks
--   share theirs (see write_job in job.lua).
--
-- dispatch(
--   args=[command, timestamp, queue_name, worker_id, heartbeat_timeout,
--         dead_message_ttl, do_maintenance, max_unpack_size, ...],
--   keys=[namespace]
-- )
--
-- Keys, besides dramatiq's own (see its dispatch.lua), built by keys.lua
-- from the namespace as the other scripts build them:
--
-- $namespace:__ackqueues__.$worker_id
--   The names of the queues whose messages that worker has fetched.
--
-- $namespace:$queue_name.wake
--   A list holding at most one token while messages wait for a consumer.
--
-- $namespace:__fetched__.$worker_id.$queue_name
--   The latest fetch of that queue by that worker that ran: its number and
--   the messages it took, with the attempts it reserved (see fetch).
--
-- Every call of a script defines each function written in at its top
-- level, used or not: the job store's (job.lua) are written in where settle
-- uses them, and maintenance's where it runs, not for every fetch.
--!include keys.lua
--!include queue.lua

local namespace = KEYS[1]

local command = ARGV[1]
local timestamp = ARGV[2]
local queue_name = ARGV[3]
local worker_id = ARGV[4]
local do_maintenance = ARGV[7]
local max_unpack_size = ARGV[8]

local queue_canonical_name = canonical_queue_name(queue_name)

local queue_acks = acks_key(namespace, worker_id, queue_name)
local queue_full_name = queue_key_of(namespace, queue_name)
local queue_messages = messages_key(queue_full_name)
local xqueue_full_name = dead_letters_key(namespace, queue_canonical_name)
local xqueue_messages = messages_key(xqueue_full_name)

-- The command's own arguments, after the eight every command takes, from
-- ARGV[FIRST_OWN] on. A settle's, some twenty for each job, are read where
-- they are in ARGV, not copied.
local FIRST_OWN = 9
local ARGS = {}
if command ~= "settle" then
    for i = FIRST_OWN, #ARGV do
        ARGS[i - 8] = ARGV[i]
    end
end

-- Ack messages: each one still this worker's is removed, as dramatiq's ack
-- removes one, in three commands for them all.
local function ack(message_ids)
    local held = redis.call("smismember", queue_acks, unpack(message_ids))
    local mine = {}
    for k, message_id in ipairs(message_ids) do
        if held[k] == 1 then
            mine[#mine + 1] = message_id
        end
    end
    if #mine > 0 then
        redis.call("srem", queue_acks, unpack(mine))
        redis.call("hdel", queue_messages, unpack(mine))
    end
end

-- A message's job id, and whether it carries an eta: read from its text
-- where the text allows, else decoded (a decode costs more than the rest of
-- the message's fetch). In text with no backslash every string is as
-- written, and every quote begins or ends one. dramatiq's JSON encoder
-- writes a message's fields in their order, the queue's name first, the
-- job's id next to last and its timestamp last: text that begins and ends
-- so has that id as its own (no quote there can be inside a string, so both
-- are fields of the object the last brace closes, the message), and text
-- with no "eta" string has no eta. Any other message (another encoder's,
-- one with an eta or with an escape) is decoded. Text that is no message a
-- worker can take (not JSON, or not dramatiq's fields, or not held under
-- `message_id` in its queue) returns nil.
local ID_FIELD = ',"message_id":"'
-- The id field is looked for this near the end: room for an id of a hundred
-- characters; a longer one is decoded.
local ID_FIELD_FROM_END = -160
-- What dramatiq's Message is made of: true for the fields a worker needs.
local MESSAGE_FIELDS = {queue_name = true, actor_name = true, args = true, kwargs = true,
                        options = true, message_id = true, message_timestamp = false}
local find, sub = string.find, string.sub

local function job_of(data, message_id)
    local at = find(data, ID_FIELD, ID_FIELD_FROM_END, true)
    local first = at and at + #ID_FIELD
    local last = first and find(data, '"', first, true)
    if last and find(data, '^,"message_timestamp":%d+}$', last + 1)
            and find(data, '^{"queue_name":"') and not find(data, "\\", 1, true)
            and not find(data, '"eta"', 1, true) then
        return sub(data, first, last - 1), false
    end
    local decoded, message = pcall(cjson.decode, data)
    if not decoded or type(message) ~= "table" or type(message.options) ~= "table"
            or message.options.redis_message_id ~= message_id then
        return nil
    end
    for field, needed in pairs(MESSAGE_FIELDS) do
        if needed and message[field] == nil then
            return nil
        end
    end
    for field in pairs(message) do
        if MESSAGE_FIELDS[field] == nil then
            return nil
        end
    end
    local eta = message.options.eta
    return message.message_id, eta ~= nil and eta ~= cjson.null
end

-- Hand messages back to the front of their queue: those of `moved`, from
-- position `first` on, given as id then the attempt reserved for it (0:
-- none), that this worker still holds. Each attempt is given back unless a
-- newer one was reserved since. Pushed in reverse, so that the messages keep
-- their order at the front. `jobs` is the job store's key prefix.
local function hand_back(jobs, moved, first)
    local requeued = false
    for i = #moved - 1, first, -2 do
        local message_id, attempt = moved[i], tonumber(moved[i + 1])
        if redis.call("srem", queue_acks, message_id) > 0 then
            local data = redis.call("hget", queue_messages, message_id)
            if data then
                redis.call("lpush", queue_full_name, message_id)
                requeued = true
                local job_key = attempt > 0 and jobs .. job_of(data, message_id)
                if job_key and tonumber(redis.call("hget", job_key, "attempts")) == attempt then
                    redis.call("hset", job_key, "attempts", attempt - 1)
                    -- Not started here; should it have been, its next start
                    -- is that attempt's again (see "run" in job.lua).
                    redis.call("hdel", job_key, "worker_name", "run")
                end
            end
        end
    end
    if requeued then
        wake(queue_full_name)
    end
end

-- A fetch's record: its number, then each message it took and its attempt.
local function fetch_record(number, moved)
    return number .. " " .. cjson.encode(moved)
end

local function record_number(record)
    return tonumber(string.match(record, "^%d+"))
end

local function record_moved(record)
    return cjson.decode(string.match(record, "^%d+ (.*)$"))
end

-- Make a message of the queue a dead letter, where an operator finds it.
local function bury(message_id, message)
    redis.call("zadd", xqueue_full_name, timestamp, message_id)
    redis.call("hset", xqueue_messages, message_id, message)
    redis.call("hdel", queue_messages, message_id)
    -- So that its dead letters expire (see maintenance.lua).
    redis.call("sadd", dead_letter_queues_key(namespace), queue_canonical_name)
end

local function nack(message_id)
    if redis.call("srem", queue_acks, message_id) > 0 then
        local message = redis.call("hget", queue_messages, message_id)
        if message then
            bury(message_id, message)
        end
    end
end

if do_maintenance == "1" then
--!include maintenance.lua
    reap_dead_workers(namespace, tonumber(timestamp), tonumber(ARGV[5]))
    expire_dead_letters(namespace, tonumber(timestamp) - tonumber(ARGV[6]), {queue_canonical_name})
end

if command == "enqueue" then
    enqueue(queue_full_name, ARGS[1], ARGS[2])
    wake(queue_full_name)

elseif command == "fetch" then
    -- ARGS: prefetch, this fetch's number and the number of the last fetch
    -- of this worker and queue whose reply came back (none: a fetch as
    -- dramatiq's own do_fetch makes it, not numbered), then optionally the
    -- job store's key prefix, the states a job may start from
    -- (space-separated) and this worker's name (JSON). Returns 1 if the
    -- queue is left empty (else 0), then pairs {message data, the attempt
    -- reserved for it, or 0 when there was none to reserve}. A worker that
    -- fetches is alive: it beats, as every dramatiq command does.
    --
    -- A fetch whose reply the worker never read (it timed out: Redis was
    -- frozen, or cut off) may still run, later, even after the worker's next
    -- fetch: what it took would sit in this worker's acks, held by no thread
    -- of it. So each fetch is numbered, in the order the worker sends them,
    -- and the latest one that ran is recorded with what it took (fetched_key).
    -- A fetch sent after lost replies (the last answered is not the one
    -- before it) hands back the recorded fetch if that is one of the lost,
    -- and records itself even when it takes nothing. A fetch that finds a
    -- later one recorded is a lost one come late: it takes nothing. Its
    -- beat is as old as it is: GT keeps a newer one, written since.
    redis.call("zadd", heartbeats_key(namespace), "GT", timestamp, worker_id)
    local prefetch = math.min(ARGS[1], max_unpack_size)
    local number, answered = tonumber(ARGS[2]), tonumber(ARGS[3])
    local jobs, startable, holder = ARGS[4], ARGS[5], ARGS[6]
    -- Delayed messages only wait here: they start once moved to their queue.
    local starts = jobs ~= nil and queue_name ~= delay_queue_name(queue_canonical_name)
    local fetched_record = fetched_key(namespace, worker_id, queue_name)
    local lost = number ~= nil and answered < number - 1
    if lost then
        local latest = redis.call("get", fetched_record)
        if latest and record_number(latest) > number then
            return {0}
        elseif latest and record_number(latest) > answered then
            hand_back(jobs, record_moved(latest), 1)
        end
    end

    -- The messages, their data and their holding are each one command for
    -- the whole fetch; only a job's record is read and written one by one.
    local fetched, held, moved = {0}, {}, {}
    local message_ids = prefetch > 0 and redis.call("lpop", queue_full_name, prefetch)
    local messages = message_ids and redis.call("hmget", queue_messages, unpack(message_ids))
    for k, message_id in ipairs(message_ids or {}) do
        local data = messages[k]
        local job_id, eta
        -- A fetch with the job store's arguments is a worker's, whose
        -- messages are dramatiq's; one without (dramatiq's own do_fetch)
        -- takes whatever the queue holds, as dramatiq's does.
        if data and jobs ~= nil then
            job_id, eta = job_of(data, message_id)
            if job_id == nil then
                -- No worker can take it (another tool wrote it?): it is set
                -- aside, and the queue goes on.
                bury(message_id, data)
                data = nil
            end
        end
        local attempt = 0
        -- A message with an eta (requeued from the dashboard) is only moved
        -- by the worker, through its delay queue: it starts when fetched again.
        if job_id and starts and not eta then
            local job_key = jobs .. job_id
            local state, attempts = unpack(redis.call("hmget", job_key, "state", "attempts"))
            if state and not string.find(" " .. startable .. " ", " " .. state .. " ", 1, true) then
                -- Its record says it may not run: it never will.
                redis.call("hdel", queue_messages, message_id)
                data = nil
            elseif state then
                -- The job's next attempt is this worker's: a start or an end
                -- of any earlier one is refused from now on. Where its
                -- message is kept, so that its dead letter is found by it.
                attempt = (tonumber(attempts) or 0) + 1
                redis.call("hset", job_key, "attempts", attempt, "worker_name", holder,
                           "redis_message_id", cjson.encode(message_id))
            end
        end
        if data then
            held[#held + 1] = message_id
            moved[#moved + 1] = message_id
            moved[#moved + 1] = attempt
            fetched[#fetched + 1] = data
            fetched[#fetched + 1] = attempt
        end
    end

    if #held > 0 then
        redis.call("sadd", queue_acks, unpack(held))
    end
    if #held > 0 or lost then
        -- The queue listed, so that a dead worker's acks and record are found.
        redis.call("sadd", ack_queues_key(namespace, worker_id), queue_name)
    end
    if number and (#held > 0 or lost) then
        local earlier = redis.call("set", fetched_record, fetch_record(number, moved), "get")
        if earlier and record_number(earlier) > number then
            -- A lost fetch come late, after a later one: sent when no reply
            -- was lost, it took before reading the record. It puts back what
            -- it took, and the record.
            redis.call("set", fetched_record, earlier)
            hand_back(jobs, moved, 1)
            return {0}
        end
    end
    -- Messages left: the token passes on to another idle consumer, which
    -- takes what this one had no room for. None left (a fetch that got
    -- fewer than it asked for emptied the queue): the token goes, and the
    -- reply says so, so that this consumer waits for the next token rather
    -- than fetch nothing first.
    local emptied = prefetch > 0 and #(message_ids or {}) < prefetch
    if emptied or redis.call("llen", queue_full_name) == 0 then
        unwake(queue_full_name)
        fetched[1] = 1
    else
        wake(queue_full_name)
    end
    return fetched

elseif command == "requeue" then
    -- ARGS: the job store's key prefix, then for each message its id and
    -- the attempt its fetch reserved (0: none).
    hand_back(ARGS[1], ARGS, 2)

elseif command == "settle" then
--!include job.lua
    -- Starts, acks and nacks of several messages at once. ARGV from
    -- FIRST_OWN on, for each message: "start", "ack" or "nack", its id, and
    -- how many arguments for its job follow (0, or the job's hash, its
    -- event stream and write_job's arguments: the start, or the end). The
    -- end is written even when the message is no longer this worker's: its
    -- attempt fences a stale run out. Returns, for each start refused, the
    -- message's id and the job's latest attempt.
    --
    -- A start whose end comes later in the same settle (a short job) is
    -- written with it, in one pass (see rides_with in job.lua).
    local ends = {}
    local i = FIRST_OWN
    while i <= #ARGV do
        if ARGV[i] ~= "start" and ARGV[i + 2] ~= "0" then
            ends[ARGV[i + 1]] = i
        end
        i = i + 3 + tonumber(ARGV[i + 2])
    end
    return writing_together(function()
        local refused, acked, written_with = {}, {}, {}
        i = FIRST_OWN
        while i <= #ARGV do
            local kind, message_id, width = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
            if width > 0 and not written_with[i] then
                local job_key, ending = ARGV[i + 3], ends[message_id]
                if kind ~= "start" or not ending or ending < i or ARGV[ending + 3] ~= job_key
                        or not rides_with(ARGV, i + 5, ending + 5) then
                    ending = nil
                end
                local written = write_job(job_key, ARGV[i + 4], ARGV, i + 5, nil,
                                          ending and ending + 5)
                if kind == "start" and written[1] ~= 1 then
                    refused[#refused + 1] = message_id
                    refused[#refused + 1] = written[3]
                elseif ending then
                    written_with[ending] = true
                end
            end
            if kind == "ack" then
                acked[#acked + 1] = message_id
            elseif kind == "nack" then
                nack(message_id)
            end
            i = i + 3 + width
        end
        if #acked > 0 then
            ack(acked)
        end
        return refused
    end)

elseif command == "purge" then
    redis.call("del", queue_full_name, queue_acks, queue_messages, wake_key(queue_full_name),
               xqueue_full_name, xqueue_messages, fetched_key(namespace, worker_id, queue_name))

elseif command == "qsize" then
    local delayed = delay_queue_name(queue_canonical_name)
    local q_aks = acks_key(namespace, worker_id, queue_canonical_name)
    local q_msgs = messages_key(queue_key_of(namespace, queue_canonical_name))
    local dq_q_aks = acks_key(namespace, worker_id, delayed)
    local dq_q_msgs = messages_key(queue_key_of(namespace, delayed))

    return redis.call("hlen", dq_q_msgs) +
           redis.call("scard", dq_q_aks) +
           redis.call("hlen", q_msgs) +
           redis.call("scard", q_aks)

end
