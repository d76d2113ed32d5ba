// A headless Chromium on the examples/cluster chat page, for
// interop/cluster_browser_test.go, driven with playwright-core. It reads
// jobs as JSON lines on stdin and answers each with
// {"event":"result","id":N,"ok":…,"data":{…}} on stdout; it exits when
// stdin closes.
//
//   node cluster_page.mjs [--executable /usr/bin/chromium]
//
// Jobs ({"id": N, "job": NAME, ...}), on one page, one at a time:
//   join      open the chat page at `url`, type `name` and `room`, press
//             Join, and wait until #status says the page is in the room;
//             reports the status.
//   wait      wait up to `timeout` ms until an element matching `selector`
//             has exactly the text `text`.
//   say       type `text` in the message box and press Send.
//   snapshot  report what the page shows: #status, the lines of #log
//             (class, sender, text) and the members list; with
//             `screenshot`, save a screenshot there.

import { createInterface } from 'node:readline';
import { launchChromium } from './chromium.mjs';

const args = process.argv.slice(2);
const executablePath = args[0] === '--executable' ? args[1] : '/usr/bin/chromium';

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

// The browser runs with an empty profile of its own, deleted at exit.
const { context, version, close: closeBrowser } = await launchChromium(executablePath, 'interop-chromium-cluster-');
emit({ event: 'ready', version });

const page = await context.newPage();
page.on('pageerror', (err) => emit({ event: 'error', msg: `page: ${err?.stack ?? err}` }));

async function joinJob(job) {
  await page.goto(job.url);
  await page.fill('#name', job.name);
  await page.fill('#room', job.room);
  await page.click('#connect');
  await page.waitForFunction(
    () => /^in /.test(document.querySelector('#status')?.textContent ?? ''),
    null,
    { timeout: job.timeout ?? 15000 },
  );
  return { status: await page.locator('#status').textContent() };
}

async function waitJob(job) {
  await page.waitForFunction(
    ({ selector, text }) => [...document.querySelectorAll(selector)].some((el) => el.textContent === text),
    { selector: job.selector, text: job.text },
    { timeout: job.timeout ?? 15000 },
  );
  return {};
}

async function sayJob(job) {
  await page.fill('#msg', job.text);
  await page.click('#send');
  // The page empties the box once the message is handed to the socket.
  await page.waitForFunction(() => document.querySelector('#msg').value === '', null, { timeout: 5000 });
  return {};
}

async function snapshotJob(job) {
  const data = await page.evaluate(() => ({
    status: document.querySelector('#status').textContent,
    log: [...document.querySelectorAll('#log > div')].map((div) => ({
      class: div.className,
      who: div.querySelector('.who')?.textContent ?? '',
      text: div.textContent,
    })),
    members: [...document.querySelectorAll('#members > li')].map((li) => li.textContent),
  }));
  if (job.screenshot) await page.screenshot({ path: job.screenshot });
  return data;
}

const jobs = { join: joinJob, wait: waitJob, say: sayJob, snapshot: snapshotJob };
let queue = Promise.resolve();
const rl = createInterface({ input: process.stdin });
rl.on('line', (line) => {
  const job = JSON.parse(line);
  // Jobs run one at a time, in order.
  queue = queue.then(async () => {
    try {
      const run = jobs[job.job];
      if (!run) throw new Error(`unknown job ${job.job}`);
      emit({ event: 'result', id: job.id, ok: true, data: await run(job) });
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
