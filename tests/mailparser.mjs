// nodemailer's mailparser (tests/package.json), reading the messages the
// relay builds as a Node.js program would.
//
//	node tests/mailparser.mjs < messages.json
//
// stdin: a JSON array of messages, each the base64 of its bytes.  stdout:
// one JSON array, for each message what simpleParser() made of it: the
// display names and addresses of From, To, Cc and Reply-To, the subject,
// the text and html parts, and each attachment's filename, content type,
// charset and bytes (base64).
import { simpleParser } from 'mailparser';

function addrs(a) {
  if (!a) return [];
  return a.value.map((x) => ({ name: x.name, address: x.address }));
}

const chunks = [];
for await (const c of process.stdin) chunks.push(c);
const out = [];
for (const b64 of JSON.parse(Buffer.concat(chunks).toString('utf8'))) {
  const m = await simpleParser(Buffer.from(b64, 'base64'),
    { skipHtmlToText: true, skipTextToHtml: true, skipTextLinks: true });
  out.push({
    from: addrs(m.from), to: addrs(m.to), cc: addrs(m.cc),
    replyTo: addrs(m.replyTo), subject: m.subject ?? null,
    text: m.text ?? null, html: m.html === false ? null : (m.html ?? null),
    attachments: m.attachments.map((a) => ({
      filename: a.filename ?? null, contentType: a.contentType,
      charset: a.headers.get('content-type')?.params?.charset ?? null,
      content: a.content.toString('base64'),
    })),
  });
}
process.stdout.write(JSON.stringify(out));
