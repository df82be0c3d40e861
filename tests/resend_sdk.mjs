// The official Resend Node SDK (tests/package.json), driven by the tests.
//
//	node tests/resend_sdk.mjs < ops.json
//
// stdin: a JSON array of operations, run in order with a client made by
// the SDK itself (new Resend(key)), which finds the relay through
// RESEND_BASE_URL as a user's program would:
//
//	{"op":"send","payload":{...},"options":{...},"key":"..."}
//	{"op":"batch","payload":[...],"options":{...}}
//	{"op":"get","id":"..."}
//	{"op":"update","id":"...","scheduledAt":"..."}
//	{"op":"cancel","id":"..."}
//
// key defaults to RESEND_API_KEY.  In a payload, {"$buffer":"<base64>"}
// becomes a Node Buffer, so attachments can be given as the SDK's users
// give them.  stdout: one JSON array, {"data":...,"error":...} per
// operation, exactly as the SDK returned them.
import { Resend } from 'resend';

function revive(v) {
  if (Array.isArray(v)) return v.map(revive);
  if (v !== null && typeof v === 'object') {
    if (Object.keys(v).length === 1 && '$buffer' in v)
      return Buffer.from(v.$buffer, 'base64');
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, revive(x)]));
  }
  return v;
}

async function run(op) {
  const client = new Resend(op.key ?? process.env.RESEND_API_KEY);
  switch (op.op) {
  case 'send':
    return client.emails.send(revive(op.payload), op.options ?? {});
  case 'batch':
    return client.batch.send(revive(op.payload), op.options ?? {});
  case 'get':
    return client.emails.get(op.id);
  case 'update':
    return client.emails.update({ id: op.id, scheduledAt: op.scheduledAt });
  case 'cancel':
    return client.emails.cancel(op.id);
  default:
    throw new Error('unknown op ' + op.op);
  }
}

let input = '';
for await (const chunk of process.stdin) input += chunk;
const out = [];
for (const op of JSON.parse(input)) {
  const r = await run(op);
  out.push({ data: r.data, error: r.error });
}
process.stdout.write(JSON.stringify(out) + '\n');
