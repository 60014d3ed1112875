-- wrk script for every HTTP benchmark; MODE picks the request:
--   booking       create-booking, plain JSON, a unique Idempotency-Key, over FLIGHTS flights
--   get-flight    get-flight on one of FLIGHTS flights
--   list-flights  the first page of upcoming flights
--   hello         a plain GET (the baseline)
-- Flight n has the id 00000000-0000-4000-8000-<n, 12 digits> (bench/seed.sql).
-- done() prints one WRK_JSON line the xtask reads.
-- Every Idempotency-Key is unique: RUN (one per wrk run, from the xtask),
-- the thread's number and a counter. Each thread is its own Lua state:
-- `thread_id` is the global that setup() gives each one (not a local, which
-- would hide it), and each seeds its own random numbers from it.
local mode = os.getenv("MODE") or "hello"
local flights = tonumber(os.getenv("FLIGHTS") or "200")
local run = os.getenv("RUN") or tostring(os.time())
-- A bearer token for every request, when the functions require one.
local token = os.getenv("TOKEN") or ""
local counter = 0
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("thread_id", threads)
end

function init(args)
  math.randomseed(os.time() + 7919 * (thread_id or 0))
end

local function flight_id(n)
  return string.format("00000000-0000-4000-8000-%012d", n)
end

local json = { ["Content-Type"] = "application/json" }
if token ~= "" then json["Authorization"] = "Bearer " .. token end

-- The requests that repeat (a flight's get-flight, the first page, hello)
-- are formatted once per thread, as pgbench prepares its statement once:
-- the load's own CPU, on the cores it measures, stays small.
local by_flight = {}
local page = wrk.format("POST", "/", json, "{}")
local hello = wrk.format("GET", "/")

function request()
  counter = counter + 1
  if mode == "booking" then
    local body = string.format(
      '{"flight_id":"%s","passenger_name":"Bench %d","passenger_age":%d,"has_pet":false}',
      flight_id(math.random(1, flights)), counter, math.random(0, 90))
    local headers = { ["Content-Type"] = "application/json", ["Idempotency-Key"] = "wrk-" .. run .. "-" .. tostring(thread_id) .. "-" .. counter }
    if token ~= "" then headers["Authorization"] = "Bearer " .. token end
    return wrk.format("POST", "/", headers, body)
  elseif mode == "get-flight" then
    local n = math.random(1, flights)
    local made = by_flight[n]
    if not made then
      made = wrk.format("POST", "/", json, string.format('{"id":"%s"}', flight_id(n)))
      by_flight[n] = made
    end
    return made
  elseif mode == "list-flights" then
    return page
  end
  return hello
end

function done(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.status + summary.errors.timeout
  io.write(string.format(
    'WRK_JSON {"requests":%d,"seconds":%.3f,"rps":%.1f,"p50_ms":%.3f,"p99_ms":%.3f,"errors":%d}\n',
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, errors))
end
