-- The key layout as the scripts build keys: the Lua side of
-- actors/storage/keys.py, which says what each key holds (and
-- tests/unit/test_lua_include.py checks that the two agree). A script is
-- given the keys it starts from; the keys it finds from them are built
-- here. dispatch.lua keeps dramatiq's own spelling of the broker's keys, so
-- that it stays comparable with the script it changes.

-- The job store's. A job's key is "<namespace>:job:<id>".
local function events_of(key)
    -- A job's event stream, or a workflow's.
    return key .. ":events"
end

local function jobs_prefix(job_key)
    return string.match(job_key, "^(.*:job:)")
end

local function store_namespace(job_key)
    return string.sub(jobs_prefix(job_key), 1, -6)
end

local function lingering_key(namespace)
    return namespace .. ":lingering"
end

local function stats_key(namespace, span_start)
    return namespace .. ":stats:" .. span_start
end

local function workflow_key(namespace, workflow_id)
    return namespace .. ":workflow:" .. workflow_id
end

-- The broker's (dramatiq's layout). A queue's key is "<namespace>:<queue>".
local function messages_key(queue_key)
    return queue_key .. ".msgs"
end

local function wake_key(queue_key)
    return queue_key .. ".wake"
end

local function dead_letters_key(namespace, queue_name)
    return namespace .. ":" .. queue_name .. ".XQ"
end

local function heartbeats_key(namespace)
    return namespace .. ":__heartbeats__"
end

local function acks_key(namespace, worker_id, queue_name)
    return namespace .. ":__acks__." .. worker_id .. "." .. queue_name
end

-- The queues whose messages a worker holds (see dispatch.lua).
local function ack_queues_key(namespace, worker_id)
    return namespace .. ":__ackqueues__." .. worker_id
end

-- The queues that ever had a dead letter (see maintenance.lua).
local function dead_letter_queues_key(namespace)
    return namespace .. ":__deadletters__"
end

local function worker_names_key(namespace)
    return namespace .. ":__worker_names__"
end
