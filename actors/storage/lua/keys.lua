-- The key layout as the scripts build keys: the Lua side of
-- actors/storage/keys.py, which says what each key holds (and
-- tests/unit/test_lua_include.py checks that the two agree). A script is
-- given the keys it starts from; the keys it finds from them are built
-- here, each by one of two rules.

-- A key of a namespace: "<namespace><fixed><part>.<part>...", the parts as
-- given after the namespace. Most have one part, or none: joined with no
-- table made for them.
local function namespaced(fixed)
    return function(namespace, part, ...)
        if select("#", ...) == 0 then
            return namespace .. fixed .. (part or "")
        end
        return namespace .. fixed .. table.concat({part, ...}, ".")
    end
end

-- A key that goes with another: "<key><suffix>".
local function suffixed(suffix)
    return function(key)
        return key .. suffix
    end
end

-- The job store's. A job's key is "<namespace>:job:<id>".
local events_of = suffixed(":events") -- a job's event stream, or a workflow's
local lingering_key = namespaced(":lingering")
local stats_key = namespaced(":stats:") -- (namespace, span_start)
local workflow_key = namespaced(":workflow:") -- (namespace, workflow_id)
-- A workflow's parts: each step's definition, how many steps each still
-- waits for, and how each step that was counted ended.
local workflow_steps_key = suffixed(":steps")
local workflow_waiting_key = suffixed(":waiting")
local workflow_outcomes_key = suffixed(":outcomes")
-- A job's limits (limits.lua): the runs that hold a slot, the messages
-- waiting for one, the starts of the rate's window.
local limits_key = namespaced(":limits:") -- (namespace, actor_name)
local limit_running_key = suffixed(":running")
local limit_waiting_key = suffixed(":waiting")
local limit_rate_key = suffixed(":rate")

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
local queue_key_of = namespaced(":") -- (namespace, queue_name): the list of its message ids
local messages_key = suffixed(".msgs") -- (queue_key)
local wake_key = suffixed(".wake") -- (queue_key)
local heartbeats_key = namespaced(":__heartbeats__")
local acks_key = namespaced(":__acks__.") -- (namespace, worker_id, queue_name)
-- The queues whose messages a worker holds (see dispatch.lua).
local ack_queues_key = namespaced(":__ackqueues__.") -- (namespace, worker_id)
-- The latest fetch of a queue by a worker that ran (see dispatch.lua).
local fetched_key = namespaced(":__fetched__.") -- (namespace, worker_id, queue_name)
-- The queues that ever had a dead letter (see maintenance.lua).
local dead_letter_queues_key = namespaced(":__deadletters__")
local worker_names_key = namespaced(":__worker_names__")

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
