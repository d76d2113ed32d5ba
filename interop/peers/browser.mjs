// A headless Chromium for the interoperability tests, driven with
// playwright-core. It reads jobs as JSON lines on stdin and answers with
// JSON lines on stdout; it exits when stdin closes.
//
//   node browser.mjs [--executable /usr/bin/chromium]
//
// Jobs ({"id": N, "job": NAME, ...}):
//   interop        open `page`, then answer the session protocol of
//                  interop/session_test.go on a WebSocket to `ws` (offering
//                  `protocols`); prints {"event":"close","conn":id,...} and
//                  {"event":"result","id":id,...} when the connection ends.
//   echo           check the examples/echo page at `url` through its DOM and
//                  echoClient, save a screenshot to `screenshot`, and leave
//                  the page connected.
//   echo-shutdown  on the page of echo job `page`, wait for the server to
//                  close the connection and report the status shown.

import { createInterface } from 'node:readline';
import { launchChromium } from './chromium.mjs';

const args = process.argv.slice(2);
const executablePath = args[0] === '--executable' ? args[1] : '/usr/bin/chromium';

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

// The browser runs with an empty profile of its own, deleted at exit.
const { context, version, close: closeBrowser } = await launchChromium(executablePath, 'interop-chromium-');
emit({ event: 'ready', version });

const pages = new Map(); // echo job id -> page

// responder runs in the page: it answers the session protocol until the
// connection closes. Browsers can neither fragment what they send nor send
// pings, so payloads go back whole and ping requests are refused.
async function responder({ url, protocols, conn, version }) {
  const hex = (buf) => Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, '0')).join('');
  const sha256 = async (bytes) => hex(await crypto.subtle.digest('SHA-256', bytes));
  const encoder = new TextEncoder();
  return await new Promise((resolve) => {
    const ws = new WebSocket(url, protocols);
    ws.binaryType = 'arraybuffer';
    const errors = [];
    let pending = null;
    let received = 0;
    let nerrors = 0;
    let chain = Promise.resolve();
    const send = (obj) => ws.send(JSON.stringify(obj));
    const fail = (msg) => {
      errors.push(msg);
      send({ op: 'error', msg });
    };

    async function handle(data) {
      if (pending !== null) {
        const m = pending;
        pending = null;
        received++;
        const isText = typeof data === 'string';
        const bytes = isText ? encoder.encode(data) : new Uint8Array(data);
        const got = {
          op: 'data',
          seq: m.seq,
          type: isText ? 'text' : 'binary',
          size: bytes.length,
          frag: m.frag,
          sha256: await sha256(bytes),
        };
        if (m.seq !== received || got.type !== m.type || got.size !== m.size || got.sha256 !== m.sha256) {
          nerrors++;
          fail(`received ${JSON.stringify(got)}, announced ${JSON.stringify(m)} (expected sequence ${received})`);
          return;
        }
        send(got);
        ws.send(data);
        return;
      }
      if (typeof data !== 'string') {
        fail('binary message where a control message belongs');
        return;
      }
      const m = JSON.parse(data);
      switch (m.op) {
        case 'data':
          pending = m;
          break;
        case 'stats':
          send({ op: 'stats', received, errors: nerrors });
          break;
        case 'close':
          ws.close(m.code, m.reason);
          break;
        default:
          fail(`unsupported op ${m.op}`);
      }
    }

    ws.onopen = () => {
      send({
        op: 'hello',
        peer: 'chromium',
        version,
        subprotocol: ws.protocol,
        extensions: ws.extensions ? [ws.extensions] : [],
        conn,
      });
    };
    ws.onmessage = (e) => {
      chain = chain.then(() => handle(e.data)).catch((err) => fail(String(err)));
    };
    ws.onclose = (e) => {
      chain.then(() => resolve({ code: e.code, reason: e.reason, wasClean: e.wasClean, errors }));
    };
  });
}

async function interopJob(job) {
  const page = await context.newPage();
  try {
    await page.goto(job.page);
    const res = await page.evaluate(responder, {
      url: job.ws,
      protocols: job.protocols ?? [],
      conn: job.id,
      version,
    });
    emit({ event: 'close', conn: job.id, code: res.code, reason: res.reason });
    for (const msg of res.errors) emit({ event: 'error', conn: job.id, msg });
    emit({ event: 'result', id: job.id, ok: res.errors.length === 0, data: res });
  } finally {
    await page.close();
  }
}

// rawChecks runs in the echo page: byte-exact round trips of 1 MiB text
// and binary messages on a WebSocket of its own to the page's endpoint,
// then a close with an application code.
async function rawChecks({ url }) {
  const prefix = 'Server: Hello. You said: ';
  const ws = new WebSocket(url);
  ws.binaryType = 'arraybuffer';
  const inbox = [];
  let wake = null;
  ws.onmessage = (e) => {
    inbox.push(e.data);
    if (wake) wake();
  };
  const closed = new Promise((resolve) => {
    ws.onclose = (e) => resolve({ code: e.code, reason: e.reason, wasClean: e.wasClean });
  });
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = () => reject(new Error('raw WebSocket failed to open'));
  });
  // Push messages may come in between; replies are the ones that are
  // not pushes.
  const reply = async () => {
    for (;;) {
      const i = inbox.findIndex((d) => typeof d !== 'string' || !d.startsWith('Server push '));
      if (i >= 0) return inbox.splice(i, 1)[0];
      await new Promise((resolve) => (wake = resolve));
    }
  };
  const out = {};
  // 1 MiB of text with characters of one to four bytes.
  const chars = ['a', 'é', '€', '😀', ' ', 'z'];
  const parts = [];
  for (let i = 0, n = 0; n < 1 << 20; i++) {
    const part = chars[i % chars.length].repeat(1000 + (i % 7));
    parts.push(part);
    n += new TextEncoder().encode(part).length;
  }
  const text = parts.join('');
  ws.send(text);
  const textReply = await reply();
  out.textOK = textReply === prefix + text;
  out.textBytes = new TextEncoder().encode(text).length;
  // 1 MiB of binary.
  const bin = new Uint8Array(1 << 20);
  for (let i = 0; i < bin.length; i++) bin[i] = (i * 7 + (i >> 9)) & 0xff;
  ws.send(bin);
  const binReply = new Uint8Array(await reply());
  const want = new Uint8Array(prefix.length + bin.length);
  want.set(new TextEncoder().encode(prefix), 0);
  want.set(bin, prefix.length);
  out.binaryOK = binReply.length === want.length && binReply.every((b, i) => b === want[i]);
  out.binaryBytes = binReply.length;
  out.extensions = ws.extensions;
  ws.close(4000, 'custom reason ✓');
  out.close = await closed;
  return out;
}

async function echoJob(job) {
  const page = await context.newPage();
  pages.set(job.id, page);
  const checks = {};
  const status = page.locator('#status');
  const waitStatus = async (re, timeout = 15000) => {
    await page.waitForFunction(
      (src) => new RegExp(src).test(document.querySelector('#status')?.textContent ?? ''),
      re.source,
      { timeout },
    );
    return status.textContent();
  };
  await page.goto(job.url);
  checks.statusOnLoad = await waitStatus(/^open$/);
  checks.urlField = await page.inputValue('#url');

  const hello = 'hello interop ✓';
  await page.fill('#msg', hello);
  await page.click('#send');
  const reply = page.locator('#log .in', { hasText: `Server: Hello. You said: ${hello}` });
  await reply.first().waitFor({ timeout: 10000 });
  checks.textReply = await reply.first().textContent();
  checks.textSent = await page.locator('#log .out').first().textContent();

  await page.evaluate(() => window.echoClient.send(new Uint8Array(1000)));
  const binReply = page.locator('#log .in', { hasText: /^binary \d+ bytes$/ });
  await binReply.first().waitFor({ timeout: 10000 });
  checks.binaryReply = await binReply.first().textContent();

  if (job.push) {
    // Two pushes arrive with nothing sent in the meantime.
    const before = await page.locator('#log .out').count();
    await page.waitForFunction(
      () => window.echoClient.messages.filter((m) => /^Server push \d+ at /.test(m)).length >= 2,
      null,
      { timeout: 15000 },
    );
    checks.pushes = await page.evaluate(() => window.echoClient.messages.filter((m) => m.startsWith('Server push ')).length);
    checks.sentDuringPush = (await page.locator('#log .out').count()) - before;
  }

  checks.raw = await page.evaluate(rawChecks, { url: checks.urlField });
  await page.screenshot({ path: job.screenshot });

  await page.click('#close');
  checks.statusAfterClose = await waitStatus(/^closed /);
  await page.click('#connect');
  checks.statusAfterReconnect = await waitStatus(/^open$/);
  emit({ event: 'result', id: job.id, ok: true, data: checks });
}

async function echoShutdownJob(job) {
  const page = pages.get(job.page);
  await page.waitForFunction(() => /^closed /.test(document.querySelector('#status')?.textContent ?? ''), null, {
    timeout: 15000,
  });
  const statusAfterShutdown = await page.locator('#status').textContent();
  await page.close();
  pages.delete(job.page);
  emit({ event: 'result', id: job.id, ok: true, data: { statusAfterShutdown } });
}

const jobs = { interop: interopJob, echo: echoJob, 'echo-shutdown': echoShutdownJob };
let queue = Promise.resolve();
const rl = createInterface({ input: process.stdin });
rl.on('line', (line) => {
  const job = JSON.parse(line);
  // Jobs run one at a time, in order.
  queue = queue.then(async () => {
    try {
      await jobs[job.job](job);
    } catch (err) {
      emit({ event: 'result', id: job.id, ok: false, msg: String(err?.stack ?? err) });
    }
  });
});
rl.on('close', async () => {
  await queue;
  await closeBrowser();
  process.exit(0);
});
