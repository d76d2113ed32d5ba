// Launching headless Chromium the same way for every browser peer: an
// empty profile of its own, which close deletes, and certificate errors
// ignored (the tests' servers use throwaway certificates).

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

// launchChromium starts Chromium with a fresh profile named after prefix
// and returns its context, its version as "Chromium X", and close, which
// ends the browser and deletes the profile.
export async function launchChromium(executablePath, prefix) {
  const userDataDir = mkdtempSync(join(tmpdir(), prefix));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath,
    headless: true,
    ignoreHTTPSErrors: true,
    viewport: { width: 1000, height: 800 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-quic',
      '--ignore-certificate-errors',
    ],
    timeout: 60000,
  });
  const version = `Chromium ${context.browser()?.version() ?? 'unknown'}`;
  const close = async () => {
    await context.close();
    rmSync(userDataDir, { recursive: true, force: true });
  };
  return { context, version, close };
}
