// The reference verifier: the npm `standardwebhooks` package (what Resend's
// and Svix's SDKs use) checks every request a test receiver got.
// stdin: a JSON array of {secret, body, headers}; stdout: a JSON array of
// {ok, error} in the same order.
import { Webhook } from "standardwebhooks";

let input = "";
process.stdin.setEncoding("utf8");
for await (const chunk of process.stdin)
	input += chunk;
const out = JSON.parse(input).map(({ secret, body, headers }) => {
	try {
		new Webhook(secret).verify(body, headers);
		return { ok: true };
	} catch (e) {
		return { ok: false, error: String(e && e.message || e) };
	}
});
process.stdout.write(JSON.stringify(out));
