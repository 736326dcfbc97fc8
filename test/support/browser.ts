// Browser tests: Debian's Chromium driven by playwright-core, and the web
// console's build (made here when missing or out of date).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const CHROMIUM = process.env.REELAY_TEST_CHROMIUM ?? '/usr/bin/chromium';
/** Screenshots for review (gitignored). */
export const TEST_OUTPUT = path.join(ROOT, 'test-output');

/**
 * Whether Chromium is there. Missing locally: the browser tests are skipped
 * with a message saying so; missing on CI (.ci/run installs it): a failure.
 */
export function chromiumAvailable(): boolean {
  if (fs.existsSync(CHROMIUM)) return true;
  if (process.env.CI) throw new Error(`${CHROMIUM} is missing on CI: .ci/run installs it (apt-get install -y chromium)`);
  console.warn(`browser tests SKIPPED: no Chromium at ${CHROMIUM} (apt-get install -y chromium, or set REELAY_TEST_CHROMIUM)`);
  return false;
}

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  });
}

/** Builds console/dist/ unless it holds a build of the current sources (a no-op then). */
export function ensureConsoleBuilt(): void {
  execFileSync(process.execPath, [path.join(ROOT, 'scripts/build-console.mjs')], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
}
