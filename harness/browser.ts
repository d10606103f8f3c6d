// Headless Chromium for browser tests: Debian's /usr/bin/chromium (scripts/deps.sh installs it; no browser is ever
// downloaded), driven by playwright-core. The flags keep it off the network beyond the page it is pointed at:
// without them Chromium reaches for Google's hosts at every start, which this machine's closed network refuses.
// Playwright gives each launch a new, empty profile directory of its own and removes it on close.
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { repoRoot } from './env.js';
import { eventually } from './supervisor-device.js';

export const CHROMIUM = process.env.SKIFF_CHROMIUM ?? '/usr/bin/chromium';

const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export async function launchBrowser(): Promise<Browser> {
  try {
    return await chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS, timeout: 60_000 });
  } catch (err) {
    throw new Error(
      `cannot start Chromium at ${CHROMIUM} (bash scripts/deps.sh installs Debian's chromium): ${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    );
  }
}

/** Where test runs keep their screenshots: under .skiff/, which git ignores. */
export const SCREENSHOT_DIR = path.join(repoRoot, '.skiff', 'screenshots');

/** Saves a screenshot of the whole page as SCREENSHOT_DIR/<name>.png; returns its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  await mkdir(SCREENSHOT_DIR, { recursive: true });
  const file = path.join(SCREENSHOT_DIR, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

/** Logs `user` in through the dashboard's login form at `url`; resolves once the pages' navigation shows. */
export async function logIn(page: Page, url: string, user: string, password: string): Promise<void> {
  await page.goto(url);
  await page.getByLabel('User name').fill(user);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Log in', exact: true }).click();
  await page.getByRole('navigation', { name: 'pages' }).waitFor();
}

/**
 * Waits for `check` to hold, that is to stop throwing (its assertions), every `everyMs`; a page updates on its own,
 * so this is no sleep. Throws with the last assertion's message after `timeoutMs`.
 */
export async function holds(
  check: () => Promise<unknown>,
  what: string,
  timeoutMs: number,
  everyMs: number,
): Promise<void> {
  await eventually(
    what,
    timeoutMs,
    async () => {
      await check();
      return true;
    },
    everyMs,
  );
}
