-- wrk script: at the end of a run, one line of JSON that tests/bench/wrk.py reads.
-- Latencies are in microseconds; "errors" are socket errors and timeouts,
-- "bad_status" responses outside 2xx and 3xx.
--
-- WRK_JSON_BODY, when set, makes every request a POST of that JSON body.
local body = os.getenv("WRK_JSON_BODY")
if body then
  wrk.method = "POST"
  wrk.body = body
  wrk.headers["Content-Type"] = "application/json"
end

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "errors": %d, "bad_status": %d, "p50_us": %d, "p99_us": %d}\n',
    summary.requests,
    summary.duration,
    errors.connect + errors.read + errors.write + errors.timeout,
    errors.status,
    latency:percentile(50),
    latency:percentile(99)
  ))
end
