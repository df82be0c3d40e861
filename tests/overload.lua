-- wrk script for tests/overload.py: POST /send with the benchmark body,
-- paced by delay() so that the connections together offer a set rate;
-- counts answers by status and writes the id of every 202 to a file per
-- thread ($OVERLOAD_DIR/ids.N), one line each.
local threads = {}
local next_tid = 0

function setup(thread)
	thread:set("tid", next_tid)
	next_tid = next_tid + 1
	table.insert(threads, thread)
end

function init(args)
	statuses = {}
	local dir = os.getenv("OVERLOAD_DIR")
	out = io.open(dir .. "/ids." .. tid, "w")
	out:setvbuf("line")
	pace = tonumber(os.getenv("OVERLOAD_DELAY_MS") or "0")
	local f = io.open(dir .. "/body.json", "r")
	wrk.method = "POST"
	wrk.body = f:read("*a")
	f:close()
	wrk.headers["Content-Type"] = "application/json"
	wrk.headers["Authorization"] = "Bearer " .. os.getenv("OVERLOAD_TOKEN")
end

function delay()
	return pace
end

function response(status, headers, body)
	if status == 503 and headers["Retry-After"] == nil then
		status = 1503	-- a 503 without Retry-After: counted apart
	end
	statuses[status] = (statuses[status] or 0) + 1
	if status == 202 then
		out:write(string.match(body, '"id":"([0-9a-f%-]+)"'), "\n")
	end
end

function done(summary, latency, requests)
	local all = {}
	for _, t in ipairs(threads) do
		for k, v in pairs(t:get("statuses")) do
			all[k] = (all[k] or 0) + v
		end
	end
	for k, v in pairs(all) do
		io.write(string.format("status %d %d\n", k, v))
	end
	local e = summary.errors
	io.write(string.format("errors %d %d %d %d %d\n", e.connect, e.read,
	    e.write, e.timeout, e.status))
	io.write(string.format("latency_us %d %d %d\n", latency:percentile(50),
	    latency:percentile(99), latency.max))
	io.write(string.format("requests %d seconds %.3f\n", summary.requests,
	    summary.duration / 1e6))
end
