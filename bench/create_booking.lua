-- wrk script: create-booking with plain JSON and a unique Idempotency-Key per
-- request, spread over the seeded flights (FLIGHTS of them, ids from bench_flight_id).
local flights = tonumber(os.getenv("FLIGHTS") or "200")
local counter = 0
local thread_tag = ""

function setup(thread)
  thread:set("tag", tostring(math.random(1, 1e9)))
end

function init(args)
  thread_tag = tag or tostring(math.random(1, 1e9))
  math.randomseed(tonumber(thread_tag))
end

local function flight_id(n)
  return string.format("00000000-0000-4000-8000-%012d", n)
end

function request()
  counter = counter + 1
  local body = string.format(
    '{"flight_id":"%s","passenger_name":"Bench %d","passenger_age":%d,"has_pet":false}',
    flight_id(math.random(1, flights)), counter, math.random(0, 90))
  local headers = {
    ["Content-Type"] = "application/json",
    ["Idempotency-Key"] = "wrk-" .. thread_tag .. "-" .. counter,
  }
  return wrk.format("POST", "/", headers, body)
end

local statuses = {}
function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.status + summary.errors.timeout
  io.write(string.format(
    'WRK_JSON {"requests":%d,"seconds":%.3f,"rps":%.1f,"p50_ms":%.3f,"p99_ms":%.3f,"errors":%d}\n',
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, errors))
end
