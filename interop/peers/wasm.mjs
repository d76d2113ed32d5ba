// Headless Chromium running our client compiled to js/wasm, for
// interop/wasm_test.go, driven with playwright-core.
//
//   node wasm.mjs --executable /usr/bin/chromium URL
//
// It prints {"event":"ready","version":...}, opens URL (the test's page,
// which runs the wasm program), and copies the page's console to stdout
// line by line: the program prints JSON lines, and anything else (a
// panic's trace) becomes an "output" event on the Go side. An exception
// in the page becomes an "error" event. It exits once the page reports
// {"event":"exit"}, or when stdin closes.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

const args = process.argv.slice(2);
let executablePath = '/usr/bin/chromium';
if (args[0] === '--executable') {
  executablePath = args[1];
  args.splice(0, 2);
}
const url = args[0];

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

const userDataDir = mkdtempSync(join(tmpdir(), 'interop-wasm-'));
let context;
let finished = false;
async function finish(code) {
  if (finished) return;
  finished = true;
  try {
    await context?.close();
  } finally {
    rmSync(userDataDir, { recursive: true, force: true });
    process.exit(code);
  }
}
createInterface({ input: process.stdin }).on('close', () => finish(0));

try {
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-quic',
    ],
    timeout: 60000,
  });
  emit({ event: 'ready', version: `Chromium ${context.browser()?.version() ?? 'unknown'}` });
  const page = await context.newPage();
  page.on('console', (msg) => {
    for (const line of msg.text().split('\n')) {
      process.stdout.write(line + '\n');
      if (line.startsWith('{"event":"exit"')) setImmediate(() => finish(0));
    }
  });
  page.on('pageerror', (err) => emit({ event: 'error', msg: `page: ${err?.stack ?? err}` }));
  await page.goto(url);
} catch (err) {
  emit({ event: 'error', msg: String(err?.stack ?? err) });
  await finish(1);
}
