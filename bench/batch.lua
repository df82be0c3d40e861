-- wrk script: POST /emails/batch, BENCH_BATCH (default 100) emails of the
-- benchmark body (bench/send.lua's mail in Resend's form) per request.
-- Messages accepted per second = rps x BENCH_BATCH.  The bearer token
-- comes from the environment (BENCH_TOKEN).  done() prints one
-- machine-readable line for bench/run.sh.

local n = tonumber(os.getenv("BENCH_BATCH") or "100")
local one = [[{"from": "Shop Köln <orders@example.org>", "to": ["Alice Müller <alice@example.net>"], "cc": "bob@example.net", "bcc": ["audit@example.org"], "reply_to": "support@example.org", "subject": "Your order 40213 has shipped ✔", "text": "Hello Alice,\n\nthanks for your order 40213. It has shipped today and is on its way to you.\nYou can follow the parcel here: https://shop.example.org/track/40213?ref=mail\n\nItems: 1x Kaffeemühle \"Köln\" (49,90 €), 2x Filterpapier (3,50 €)\nDelivery usually takes two to three working days.\n\nKind regards,\nyour shop team\n\n-- \nYou receive this mail because you ordered at shop.example.org. Shop Köln GmbH, Domstraße 1, 50667 Köln, Germany.\n", "html": "<!doctype html><html><body><p>Hello Alice,</p><p>thanks for your order <b>40213</b>. It has shipped today and is on its way to you.</p><p><a href=\"https://shop.example.org/track/40213?ref=mail\">Track your parcel</a></p><ul><li>1x Kaffeemühle &quot;Köln&quot; (49,90 €)</li><li>2x Filterpapier (3,50 €)</li></ul><p>Delivery usually takes two to three working days.</p><p>Kind regards,<br>your shop team</p><p style=\"font-size:11px;color:#777\">You receive this mail because you ordered at shop.example.org. Shop Köln GmbH, Domstraße 1, 50667 Köln, Germany.</p></body></html>", "headers": {"X-Campaign": "order-shipped", "List-Unsubscribe": "<mailto:unsubscribe@example.org?subject=40213>"}}]]
local all = {}
for i = 1, n do all[i] = one end

wrk.method = "POST"
wrk.path = "/emails/batch"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. (os.getenv("BENCH_TOKEN") or "none")
wrk.body = "[" .. table.concat(all, ",") .. "]"

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
