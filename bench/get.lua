-- wrk script: GET of the URL given (e.g. /health).  done() prints one
-- machine-readable line for bench/run.sh.

function done(summary, latency, requests)
	local e = summary.errors
	io.write(string.format("BENCH requests=%d secs=%.3f rps=%.1f " ..
	    "p50_ms=%.2f p99_ms=%.2f max_ms=%.2f errors=%d status_errors=%d\n",
	    summary.requests, summary.duration / 1e6,
	    summary.requests / (summary.duration / 1e6),
	    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
	    latency.max / 1000,
	    e.connect + e.read + e.write + e.timeout, e.status))
end
