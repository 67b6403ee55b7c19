-- The key layout as the scripts build keys: the Lua side of
-- actors/storage/keys.py, which says what each key holds (and
-- tests/unit/test_lua_include.py checks that the two agree). A script is
-- given the keys it starts from; the keys it finds from them are built
-- here. Each builder is a function of its own, not one made by a function
-- that makes builders: a script runs its definitions at every call, and a
-- builder made by another costs a call and a variable of its own besides.
--
-- A key of a namespace is "<namespace><fixed><part>.<part>...", its parts
-- as given after the namespace; a key that goes with another is
-- "<key><suffix>".

-- The job store's. A job's key is "<namespace>:job:<id>".
local function events_of(key) -- a job's event stream, or a workflow's
    return key .. ":events"
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
-- A workflow's parts: each step's definition, how many steps each still
-- waits for, and how each step that was counted ended.
local function workflow_steps_key(workflow)
    return workflow .. ":steps"
end
local function workflow_waiting_key(workflow)
    return workflow .. ":waiting"
end
local function workflow_outcomes_key(workflow)
    return workflow .. ":outcomes"
end
-- A job's limits (limits.lua): the runs that hold a slot, the messages
-- waiting for one, the starts of the rate's window.
local function limits_key(namespace, actor_name)
    return namespace .. ":limits:" .. actor_name
end
local function limit_running_key(limits)
    return limits .. ":running"
end
local function limit_waiting_key(limits)
    return limits .. ":waiting"
end
local function limit_rate_key(limits)
    return limits .. ":rate"
end

local function jobs_prefix(job_key)
    return string.match(job_key, "^(.*:job:)")
end

-- The store's namespace, from its jobs' key prefix.
local function jobs_namespace(jobs)
    return string.sub(jobs, 1, -6)
end

local function store_namespace(job_key)
    return jobs_namespace(jobs_prefix(job_key))
end

-- A workflow's key and its parts', kept and removed together.
local function workflow_keys(workflow)
    return {workflow, workflow_steps_key(workflow), workflow_waiting_key(workflow),
            workflow_outcomes_key(workflow), events_of(workflow)}
end

-- The broker's (dramatiq's layout).
local function queue_key_of(namespace, queue_name) -- the list of its message ids
    return namespace .. ":" .. queue_name
end
local function messages_key(queue_key)
    return queue_key .. ".msgs"
end
local function wake_key(queue_key)
    return queue_key .. ".wake"
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
-- The latest fetch of a queue by a worker that ran (see dispatch.lua).
local function fetched_key(namespace, worker_id, queue_name)
    return namespace .. ":__fetched__." .. worker_id .. "." .. queue_name
end
-- The queues that ever had a dead letter (see maintenance.lua).
local function dead_letter_queues_key(namespace)
    return namespace .. ":__deadletters__"
end
local function worker_names_key(namespace)
    return namespace .. ":__worker_names__"
end

-- A queue's delay queue, and the queue a delay queue's messages go to (dramatiq's dq_name, q_name).
local function delay_queue_name(queue_name)
    return queue_name .. ".DQ"
end

local function canonical_queue_name(queue_name)
    return string.match(queue_name, "^(.*)%.DQ$") or queue_name
end

local function dead_letters_key(namespace, queue_name)
    return queue_key_of(namespace, queue_name .. ".XQ")
end
