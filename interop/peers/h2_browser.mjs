// A headless Chromium for the HTTP/2 interoperability tests
// (interop/h2_browser_test.go), driven with playwright-core. It reads jobs
// as JSON lines on stdin and answers with JSON lines on stdout; it exits
// when stdin closes.
//
//   node h2_browser.mjs [--executable /usr/bin/chromium]
//
// Jobs ({"id": N, "job": NAME, ...}):
//   h2  open the examples/echo page at `url`; check the page's own client
//       through the DOM; with it still open, open one WebSocket per entry
//       of `ends` to `ws` (?socket=I added), all at once, echo text,
//       binary and 1 MiB messages of both types on each, then end each
//       as its entry {code, reason, byServer} says: closed by the page, or
//       by the server when asked with `closeCommand`;
//       last, close the page's client with its Close button. Reports
//       {"event":"result","id":N,"ok":…,"data":{…}}.

import { createInterface } from 'node:readline';
import { launchChromium } from './chromium.mjs';

const args = process.argv.slice(2);
const executablePath = args[0] === '--executable' ? args[1] : '/usr/bin/chromium';

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

// The browser runs with an empty profile of its own, deleted at exit.
const { context, version, close: closeBrowser } = await launchChromium(executablePath, 'interop-chromium-h2-');
emit({ event: 'ready', version });

// socketChecks runs in the page: the WebSockets besides the page's own.
async function socketChecks({ url, ends, closeCommand }) {
  const prefix = 'Server: Hello. You said: ';
  const encoder = new TextEncoder();

  function open(i) {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(`${url}?socket=${i}`);
      ws.binaryType = 'arraybuffer';
      const inbox = [];
      let wake = null;
      let ended = false;
      const poke = () => {
        if (wake) {
          const w = wake;
          wake = null;
          w();
        }
      };
      ws.onmessage = (e) => {
        inbox.push(e.data);
        poke();
      };
      ws.closed = new Promise((res) => {
        ws.onclose = (e) => {
          ended = true;
          poke();
          res({ code: e.code, reason: e.reason, wasClean: e.wasClean });
        };
      });
      ws.next = async () => {
        for (;;) {
          if (inbox.length > 0) return inbox.shift();
          if (ended) throw new Error(`WebSocket ${i} closed while a reply was awaited`);
          await new Promise((res) => (wake = res));
        }
      };
      ws.onopen = () => resolve(ws);
      ws.onerror = () => reject(new Error(`WebSocket ${i} failed to open`));
    });
  }

  const equalBytes = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);
  const withPrefix = (bytes) => {
    const out = new Uint8Array(prefix.length + bytes.length);
    out.set(encoder.encode(prefix), 0);
    out.set(bytes, prefix.length);
    return out;
  };
  // 1 MiB of text with characters of one to four bytes.
  const chars = ['a', 'é', '€', '😀', ' ', 'z'];
  const parts = [];
  for (let i = 0, n = 0; n < 1 << 20; i++) {
    const part = chars[i % chars.length].repeat(1000 + (i % 7));
    parts.push(part);
    n += encoder.encode(part).length;
  }
  const bigText = parts.join('');
  const bigBinary = new Uint8Array(1 << 20);
  for (let i = 0; i < bigBinary.length; i++) bigBinary[i] = (i * 7 + (i >> 9)) & 0xff;
  const small = new Uint8Array(1000);
  for (let i = 0; i < small.length; i++) small[i] = i & 0xff;

  // All open at once, then all exchange at once.
  const sockets = await Promise.all(ends.map((_, i) => open(i)));
  return await Promise.all(
    sockets.map(async (ws, i) => {
      const out = { extensions: ws.extensions };
      const text = `hello from WebSocket ${i} ✓`;
      ws.send(text);
      out.textOK = (await ws.next()) === prefix + text;
      ws.send(small);
      out.binaryOK = equalBytes(new Uint8Array(await ws.next()), withPrefix(small));
      ws.send(bigText);
      out.bigTextOK = (await ws.next()) === prefix + bigText;
      ws.send(bigBinary);
      out.bigBinaryOK = equalBytes(new Uint8Array(await ws.next()), withPrefix(bigBinary));
      const { code, reason, byServer } = ends[i];
      if (byServer) {
        ws.send(`${closeCommand}${code} ${reason}`);
      } else {
        ws.close(code, reason);
      }
      out.close = await ws.closed;
      return out;
    }),
  );
}

async function h2Job(job) {
  const page = await context.newPage();
  try {
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
    checks.nextHopProtocol = await page.evaluate(() => performance.getEntriesByType('navigation')[0]?.nextHopProtocol ?? '');
    checks.statusOnLoad = await waitStatus(/^open$/);

    const hello = 'hello over HTTP/2 ✓';
    await page.fill('#msg', hello);
    await page.click('#send');
    const reply = page.locator('#log .in', { hasText: `Server: Hello. You said: ${hello}` });
    await reply.first().waitFor({ timeout: 10000 });
    checks.textReply = await reply.first().textContent();
    await page.evaluate(() => window.echoClient.send(new Uint8Array(1000)));
    const binReply = page.locator('#log .in', { hasText: /^binary \d+ bytes$/ });
    await binReply.first().waitFor({ timeout: 10000 });
    checks.binaryReply = await binReply.first().textContent();

    checks.sockets = await page.evaluate(socketChecks, {
      url: job.ws,
      ends: job.ends,
      closeCommand: job.closeCommand,
    });

    await page.click('#close');
    checks.statusAfterClose = await waitStatus(/^closed /);
    emit({ event: 'result', id: job.id, ok: true, data: checks });
  } finally {
    await page.close();
  }
}

const jobs = { h2: h2Job };
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
