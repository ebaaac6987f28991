// The senders' own documented code, run under node: the independent implementation hookscope's
// signatures are checked against, in both directions. Node core modules only.
//
//   node senders.js serve PROVIDER KEY        a receiver that verifies with the sender's sample
//                                             code: 200 "ok", or 400 "BAD SIGNATURE"; prints its port
//   node senders.js send PROVIDER KEY URL     signs a sample event the sender's way and POSTs it
//   node senders.js send-file PROVIDER KEY URL FILE [AGE]
//                                             POSTs FILE's bytes as they are, signed the way the
//                                             sender's docs verify (optiview, dyte: JSON.stringify
//                                             of the parsed body), dated AGE seconds ago
//   node senders.js zoom-validate zoom SECRET URL
//                                             Zoom's endpoint check: POSTs a signed
//                                             endpoint.url_validation and checks the answer as
//                                             Zoom does (encryptedToken = HMAC of plainToken)
//   node senders.js meta-verify meta TOKEN URL
//                                             Meta's verification request: GETs
//                                             URL?hub.mode=subscribe&hub.challenge=…&hub.verify_token=TOKEN
//                                             and checks the answer is the challenge
// Those two exit 0 when the other side answered as the sender's docs expect, 1 otherwise.
//
// KEY is the webhook secret (millicast, optiview, shopify, zoom; meta: the App Secret) or a PEM
// file (dyte: public to serve, private to send). PROVIDER is millicast, optiview, shopify, dyte,
// zoom or meta.
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const http = require('http');

const [mode, provider, key, url] = process.argv.slice(2);

// Verification, as each sender's documentation writes it (variable names kept).
const verifiers = {
  // Dolby.io Real-time Streaming, "How-to verify the webhook".
  millicast(webhookSecret, request, body) {
    const webhookSecretBuffer = Buffer.from(webhookSecret, 'base64');
    const calculatedSignature = 'sha1=' + crypto.createHmac('sha1', webhookSecretBuffer)
      .update(body)
      .digest('hex');
    const headerSignature = request.headers['x-millicast-signature'];
    return calculatedSignature === headerSignature;
  },
  // Dolby OptiView, "Full code sample" (express.json() parses the body, the sample re-stringifies).
  optiview(secret, request, body) {
    const data = JSON.parse(body.toString('utf8'));
    const signatureHeader = request.headers['dolby-signature'];
    const timestampPart = signatureHeader.split(',')[0];
    const hashPart = signatureHeader.split(',')[1];
    const timestampValue = timestampPart.split('=')[1];
    const hashValue = hashPart.split('=')[1];
    const dataAsString = JSON.stringify(data);
    const stringToBeHashed = `${timestampValue}.${dataAsString}`;
    const hashToCheck = crypto.createHmac('sha256', secret).update(stringToBeHashed).digest('hex');
    return hashToCheck === hashValue;
  },
  // Shopify, "Verify webhooks" (shopify.dev; the Node.js sample, on the raw body).
  shopify(secret, request, body) {
    const hmacHeader = request.headers['x-shopify-hmac-sha256'];
    const calculated = crypto.createHmac('sha256', secret).update(body, 'utf8').digest('base64');
    return typeof hmacHeader === 'string' && hmacHeader.length === calculated.length
      && crypto.timingSafeEqual(Buffer.from(calculated), Buffer.from(hmacHeader));
  },
  // Zoom, its sample receiver github.com/zoom/webhook-sample index.js (bodyParser.json()
  // parses the body; the message is rebuilt with JSON.stringify).
  zoom(secret, request, body) {
    const reqBody = JSON.parse(body.toString('utf8'));
    const message = `v0:${request.headers['x-zm-request-timestamp']}:${JSON.stringify(reqBody)}`;
    const signature = `v0=${crypto.createHmac('sha256', secret).update(message).digest('hex')}`;
    return request.headers['x-zm-signature'] === signature;
  },
  // Meta, Graph API webhooks "Getting Started", Validate payloads: a SHA256 HMAC of the payload
  // with the App Secret, compared with X-Hub-Signature-256 after `sha256=`.
  meta(appSecret, request, body) {
    const received = String(request.headers['x-hub-signature-256'] || '');
    const expected = crypto.createHmac('sha256', appSecret).update(body).digest('hex');
    return received.startsWith('sha256=') && received.slice('sha256='.length) === expected;
  },
  // Dyte, "Verify webhooks using Dyte's signature" (express.json() parses the body).
  dyte(publicKeyFile, request, body) {
    const publicKey = fs.readFileSync(publicKeyFile, 'utf8');
    const signature = request.headers['dyte-signature'];
    const verifier = crypto.createVerify('RSA-SHA256');
    verifier.update(JSON.stringify(JSON.parse(body.toString('utf8'))));
    return verifier.verify(publicKey, signature, 'base64');
  },
};

// Signing, as the senders sign: the same computations, from the sending side.
const age = Number(process.argv[7] || 0);
const now = () => Math.floor(Date.now() / 1000) - age;
const samples = {
  millicast: () => ({ type: 'feeds', event: 'started', timestamp: Date.now(),
    data: { streamId: 'k9Mwad/multiview', feedId: 'feed-1', name: 'multiview', active: true } }),
  optiview: () => ({ type: 'engine.error', created: now(), object: { type: 'engine', id: 'eng_4f2a' },
    data: { id: 'eng_4f2a', channelId: 'ch_9b1', status: 'error', message: 'ingest lost' } }),
  shopify: () => ({ id: 820982911946154500, email: 'jon@example.com', total_price: '199.00',
    line_items: [{ id: 866550311766439000, title: 'IPod Nano - 8GB', quantity: 1 }] }),
  zoom: () => ({ event: 'meeting.started', event_ts: Date.now(), payload: { account_id: 'AAAAAABBBB',
    object: { id: '85746065432', uuid: '4444AAAiAAAAAiAiAiiAii==', host_id: 'x1yCzABCDEfg23HiJKl4mN',
      topic: 'Weekly standup', type: 2, start_time: new Date().toISOString(), duration: 30 } } }),
  meta: () => ({ object: 'whatsapp_business_account', entry: [{ id: '102290129340398', changes: [{
    field: 'messages', value: { messaging_product: 'whatsapp', metadata: { phone_number_id: '106540352242922' },
      messages: [{ from: '16505551234', id: 'wamid.HBgLMTY1MDUwNzY1MjAVAgASGBQzQTRBNjU5OUFF',
        timestamp: String(now()), type: 'text', text: { body: 'Un café ?' } }] } }] }] }),
  dyte: () => ({ event: 'meeting.started', meeting: { id: 'bbb9c2a4-1a1c-4e3a-9d7e-1b0f3f6c1a2b',
    roomName: 'standup', status: 'LIVE', createdAt: new Date().toISOString() } }),
};
const signers = {
  millicast(secret, body) {
    const signature = crypto.createHmac('sha1', Buffer.from(secret, 'base64')).update(body).digest('hex');
    return { 'X-Millicast-Signature': 'sha1=' + signature };
  },
  optiview(secret, body) {
    const t = now();
    const h = crypto.createHmac('sha256', secret).update(`${t}.${body}`).digest('hex');
    return { 'Dolby-Signature': `t=${t},h=${h}` };
  },
  shopify(secret, body) {
    return { 'X-Shopify-Hmac-Sha256': crypto.createHmac('sha256', secret).update(body, 'utf8').digest('base64'),
      'X-Shopify-Topic': 'orders/create', 'X-Shopify-Webhook-Id': crypto.randomUUID() };
  },
  zoom(secret, body) {
    const t = now();
    const signature = crypto.createHmac('sha256', secret).update(`v0:${t}:${body}`).digest('hex');
    return { 'x-zm-request-timestamp': String(t), 'x-zm-signature': `v0=${signature}` };
  },
  meta(appSecret, body) {
    return { 'X-Hub-Signature-256': 'sha256=' + crypto.createHmac('sha256', appSecret).update(body).digest('hex') };
  },
  dyte(privateKeyFile, body) {
    const signer = crypto.createSign('RSA-SHA256');
    signer.update(body);
    const uuid = crypto.randomUUID();
    return { 'dyte-signature': signer.sign(fs.readFileSync(privateKeyFile, 'utf8'), 'base64'),
      'dyte-uuid': uuid, 'dyte-webhook-id': crypto.randomUUID() };
  },
};

if (!verifiers[provider]) {
  console.error(`unknown provider ${provider}`);
  process.exit(2);
}

if (mode === 'serve') {
  const server = http.createServer((request, response) => {
    const chunks = [];
    request.on('data', (chunk) => chunks.push(chunk));
    request.on('end', () => {
      let ok = false;
      try {
        ok = verifiers[provider](key, request, Buffer.concat(chunks));
      } catch (err) {
        console.error(`verification threw: ${err}`);
      }
      response.writeHead(ok ? 200 : 400, { 'Content-Type': 'text/plain' });
      response.end(ok ? 'ok' : 'BAD SIGNATURE');
    });
  });
  server.listen(0, '127.0.0.1', () => console.log(server.address().port));
} else if (mode === 'send') {
  const body = JSON.stringify(samples[provider]());
  const headers = { 'Content-Type': 'application/json', ...signers[provider](key, body) };
  const request = http.request(url, { method: 'POST', headers }, (response) => {
    response.resume();
    console.log(response.statusCode);
    process.exit(response.statusCode < 300 ? 0 : 1);
  });
  request.on('error', (err) => { console.error(String(err)); process.exit(1); });
  request.end(body);
} else if (mode === 'send-file') {
  const raw = fs.readFileSync(process.argv[6]);
  // What the docs' receiver recomputes: the parsed body re-serialized (millicast: the bytes).
  const signed = ['millicast', 'meta'].includes(provider) ? raw : JSON.stringify(JSON.parse(raw.toString('utf8')));
  const headers = { 'Content-Type': 'application/json', ...signers[provider](key, signed) };
  const request = http.request(url, { method: 'POST', headers }, (response) => {
    response.resume();
    process.exit(response.statusCode < 300 ? 0 : 1);
  });
  request.on('error', (err) => { console.error(String(err)); process.exit(1); });
  request.end(raw);
} else if (mode === 'zoom-validate') {
  // What Zoom does when the endpoint URL is saved: a signed url_validation, then the answer's
  // encryptedToken checked against its own HMAC of the plainToken.
  const plainToken = crypto.randomBytes(16).toString('base64url');
  const body = JSON.stringify({ payload: { plainToken }, event_ts: Date.now(), event: 'endpoint.url_validation' });
  const headers = { 'Content-Type': 'application/json', ...signers.zoom(key, body) };
  const request = http.request(url, { method: 'POST', headers }, (response) => {
    const chunks = [];
    response.on('data', (chunk) => chunks.push(chunk));
    response.on('end', () => {
      let answer = {};
      try { answer = JSON.parse(Buffer.concat(chunks).toString('utf8')); } catch (err) { /* not JSON */ }
      const expected = crypto.createHmac('sha256', key).update(plainToken).digest('hex');
      const ok = response.statusCode === 200 && answer.plainToken === plainToken
        && answer.encryptedToken === expected;
      console.log(`${response.statusCode} ${ok ? 'validated' : 'NOT validated'}`);
      process.exit(ok ? 0 : 1);
    });
  });
  request.on('error', (err) => { console.error(String(err)); process.exit(1); });
  request.end(body);
} else if (mode === 'meta-verify') {
  // What Meta does when the callback URL is saved: a GET with a challenge and the verify token;
  // the answer must be the challenge.
  const challenge = String(crypto.randomInt(1000000000, 2000000000));
  const query = new URLSearchParams({ 'hub.mode': 'subscribe', 'hub.challenge': challenge, 'hub.verify_token': key });
  http.get(`${url}?${query}`, (response) => {
    const chunks = [];
    response.on('data', (chunk) => chunks.push(chunk));
    response.on('end', () => {
      const ok = response.statusCode === 200 && Buffer.concat(chunks).toString('utf8') === challenge;
      console.log(`${response.statusCode} ${ok ? 'verified' : 'NOT verified'}`);
      process.exit(ok ? 0 : 1);
    });
  }).on('error', (err) => { console.error(String(err)); process.exit(1); });
} else {
  console.error('usage: node senders.js serve|send|send-file|zoom-validate|meta-verify PROVIDER KEY [URL] [FILE] [AGE]');
  process.exit(2);
}
