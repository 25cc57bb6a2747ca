// An Express app behind asgigram that answers later, through /send: the
// background-job pattern.
//
//   npm ci && node app.js                    # POST / on 127.0.0.1:8000
//   asgigram dev http://127.0.0.1:8000/      # or: asgigram <TOKEN> http://127.0.0.1:8000/
//
// For each text message the app answers 204 at once (nothing to send: the
// event is delivered, and asgigram can deliver the chat's next one), then
// runs a job in the background that talks to the user through asgigram's
// /send endpoint with the event's scope token:
//
//   1. sends "⏳ Working on it…" as a reply, and learns its message_id from
//      /send's answer;
//   2. does the slow part (here: waits JOB_DELAY_MS, then reverses the text);
//   3. edits the progress message into the result.
//
// /start is answered directly in the response body, for contrast.
//
// Environment:
//   APP_LISTEN           HOST:PORT to listen on (default 127.0.0.1:8000; port 0
//                        picks a free one, the first line printed says which)
//   JOB_DELAY_MS         how long the "slow part" takes (default 2000)
//   ASGIGRAM_APP_SECRET  asgigram's app_secret (whsec_<base64>); when set,
//                        requests without a valid signature get 401
'use strict';

const crypto = require('node:crypto');
const express = require('express');

const JOB_DELAY_MS = Number(process.env.JOB_DELAY_MS ?? 2000);
const secretKey = process.env.ASGIGRAM_APP_SECRET ? parseSecret(process.env.ASGIGRAM_APP_SECRET) : null;
const jobs = new Set(); // running jobs, awaited on shutdown

const app = express();

// express.raw keeps the exact bytes: the signature covers them.
app.post('/', express.raw({ type: () => true, limit: '1mb' }), (req, res) => {
  if (!Buffer.isBuffer(req.body)) return res.status(400).end();
  if (secretKey && !verify(secretKey, req.headers, req.body)) return res.status(401).end();
  let payload;
  try {
    payload = JSON.parse(req.body);
  } catch {
    return res.status(400).end();
  }
  const { event, token, send_url: sendUrl } = payload;

  if (event.type !== 'telegram.message' || typeof event.text !== 'string') {
    return res.status(204).end(); // nothing to send
  }
  if (/^\/start(@\w+)?(\s|$)/.test(event.text)) {
    return res.json({ type: 'telegram.send_message', text: 'Send me any text: I will work on it in the background.' });
  }

  res.status(204).end(); // answer first...
  // ...then work. The job must not depend on the request: it has ended.
  const job = runJob(sendUrl, token, event)
    .catch((err) => console.error(`job for update ${event.message_id} failed: ${err.message}`))
    .finally(() => jobs.delete(job));
  jobs.add(job);
});

async function runJob(sendUrl, token, message) {
  const [progress] = await send(sendUrl, token, {
    type: 'telegram.send_message',
    text: '⏳ Working on it…',
    reply_to_message_id: message.message_id,
  });
  await new Promise((resolve) => setTimeout(resolve, JOB_DELAY_MS)); // the slow part
  const result = [...message.text].reverse().join('');
  await send(sendUrl, token, {
    type: 'telegram.edit_message_text',
    message_id: progress.message_id, // no chat_id: the scope's chat
    text: `✅ Done: ${result}`,
  });
}

// send POSTs one outbound event (or an array) to asgigram's /send with the
// scope token, and returns the Telegram results. The token is a credential:
// it goes in the header and nowhere else (never log it).
//
// 503 (asgigram busy or stopping) is retried after Retry-After. Nothing else
// is: 504 means the call's outcome is unknown, and sending again could send
// the message twice.
async function send(sendUrl, token, event, attempts = 3) {
  for (let attempt = 1; ; attempt++) {
    const res = await fetch(sendUrl, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify(event),
    });
    const body = await res.json().catch(() => ({}));
    if (res.ok) return body.results;
    if (res.status === 503 && attempt < attempts) {
      const wait = Number(res.headers.get('retry-after') ?? 1);
      await new Promise((resolve) => setTimeout(resolve, wait * 1000));
      continue;
    }
    // 410: the scope idled out (its token died with it); 502: Telegram refused.
    throw new Error(`/send ${res.status}: ${body.description ?? res.statusText}`);
  }
}

// --- Standard Webhooks signature (copy it into your app) -------------------

function parseSecret(secret) {
  if (!secret.startsWith('whsec_')) throw new Error('ASGIGRAM_APP_SECRET must look like whsec_<base64>');
  return Buffer.from(secret.slice('whsec_'.length), 'base64');
}

// verify checks webhook-signature: HMAC-SHA256 over "id.timestamp.body",
// base64, any of the listed v1 signatures, timestamp within 5 minutes.
function verify(key, headers, body, toleranceSeconds = 300) {
  const id = headers['webhook-id'];
  const timestamp = headers['webhook-timestamp'] ?? '';
  if (!id || !/^\d+$/.test(timestamp)) return false;
  if (Math.abs(Date.now() / 1000 - Number(timestamp)) > toleranceSeconds) return false;
  const expected = crypto.createHmac('sha256', key).update(`${id}.${timestamp}.`).update(body).digest();
  return (headers['webhook-signature'] ?? '').split(' ').some((signature) => {
    const [version, value] = signature.split(',');
    const got = Buffer.from(value ?? '', 'base64');
    return version === 'v1' && got.length === expected.length && crypto.timingSafeEqual(got, expected);
  });
}

// --- serve -------------------------------------------------------------------

const listen = process.env.APP_LISTEN ?? '127.0.0.1:8000';
const sep = listen.lastIndexOf(':');
const server = app.listen(Number(listen.slice(sep + 1)), listen.slice(0, sep), (err) => {
  if (err) throw err; // e.g. the port is taken
  const { address, port } = server.address();
  console.log(`listening on http://${address}:${port}/`);
});

// On Ctrl-C or SIGTERM, stop taking events and let running jobs finish.
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, async () => {
    server.close();
    await Promise.allSettled(jobs);
    process.exit(0);
  });
}
