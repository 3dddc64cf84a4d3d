/**
 * Browser tests: a real `gatehouse serve` (the built dist/main.js, a fresh data dir, a free port)
 * and Debian's Chromium driven by playwright-core. No browser is ever downloaded: without
 * /usr/bin/chromium the tests are skipped, unless CI is set, where they fail.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { describe, expect } from 'vitest';
import { type ServedCluster, startServe } from './cli.js';
import { freePort } from './net.js';

export const CHROMIUM = process.env.GATEHOUSE_TEST_CHROMIUM ?? '/usr/bin/chromium';
const HAVE_CHROMIUM = fs.existsSync(CHROMIUM);
const IN_CI = process.env.CI !== undefined && process.env.CI !== '' && process.env.CI !== 'false';

/** A whole browser test file takes minutes on a loaded 2-core machine; a guard against hangs. */
export const BROWSER_TEST_TIMEOUT = 180_000;

/** `describe` when Chromium is there (or in CI, where its absence must fail); `describe.skip` otherwise. */
export const describeBrowser = describe.skipIf(!HAVE_CHROMIUM && !IN_CI);

export const ARTIFACTS = path.resolve(import.meta.dirname, '../../test-artifacts');

export interface Gatehouse {
  url: string;
  port: number;
  dataDir: string;
  adminEmail: string;
  /** The generated bootstrap password `serve` printed (it must be changed at first sign-in). */
  bootstrapPassword: string;
  served: ServedCluster;
  stop(): Promise<void>;
}

/** Starts the built Gatehouse on a free port with a fresh SQLite data dir (one worker). */
export async function startGatehouse(env: Record<string, string> = {}): Promise<Gatehouse> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-browser-'));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const served = await startServe({
    GATEHOUSE_DATA_DIR: dataDir,
    PORT: String(port),
    HOST: '127.0.0.1',
    GATEHOUSE_WORKERS: '1',
    GATEHOUSE_ISSUER: url,
    GATEHOUSE_LOG_LEVEL: 'info',
    ...env,
  });
  const output = served.output();
  const email = /email:\s+(\S+)/.exec(output)?.[1];
  const password = /password:\s+(\S+)/.exec(output)?.[1];
  if (!email || !password) {
    await served.stop();
    throw new Error(`no bootstrap admin in the output of gatehouse serve:\n${output.slice(0, 2000)}`);
  }
  return {
    url,
    port,
    dataDir,
    adminEmail: email,
    bootstrapPassword: password,
    served,
    async stop() {
      await served.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Chromium, headless, with a fresh profile (playwright's launch makes a new temporary one). */
export async function launchChromium(): Promise<Browser> {
  if (!HAVE_CHROMIUM) throw new Error(`${CHROMIUM} is missing (CI installs the chromium package in .ci/run)`);
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-dev-shm-usage',
    ],
  });
}

export async function newContext(
  browser: Browser,
  baseURL: string,
  options: { width?: number; colorScheme?: 'light' | 'dark' } = {},
): Promise<BrowserContext> {
  const context = await browser.newContext({
    baseURL,
    viewport: { width: options.width ?? 1280, height: 900 },
    colorScheme: options.colorScheme ?? 'light',
    permissions: ['clipboard-read', 'clipboard-write'],
  });
  context.setDefaultTimeout(20_000);
  return context;
}

/** Saves a screenshot of the page under test-artifacts/ (git-ignored). */
export async function screenshot(page: Page, name: string): Promise<string> {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

const AXE_SOURCE = fs.readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: Array<{ target: unknown; failureSummary?: string }>;
}

/**
 * Runs axe-core on the page as it is now and fails on serious or critical violations. The source
 * is evaluated through the DevTools protocol, which the page's CSP (no inline scripts) does not govern.
 */
export async function expectAccessible(page: Page, what: string): Promise<void> {
  const loaded = await page.evaluate('typeof window.axe');
  if (loaded !== 'object') await page.evaluate(AXE_SOURCE);
  const violations = (await page.evaluate(
    "axe.run(document, { resultTypes: ['violations'] }).then((r) => r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => ({ target: n.target, failureSummary: n.failureSummary })) })))",
  )) as AxeViolation[];
  const bad = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  expect(bad, `${what}: axe-core violations\n${JSON.stringify(bad, null, 2)}`).toEqual([]);
}

/** Signs in through the form (the page must show it). */
export async function signInThroughForm(page: Page, email: string, password: string): Promise<void> {
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

/** A new password that passes the strength check. */
export const NEW_ADMIN_PASSWORD = 'violet-harbour-lantern-42';

/** Signs in as the bootstrap admin and changes the generated password (test 1's flow, reused). */
export async function signInAsNewAdmin(page: Page, gatehouse: Gatehouse): Promise<void> {
  await page.goto('/admin/');
  await signInThroughForm(page, gatehouse.adminEmail, gatehouse.bootstrapPassword);
  await page.getByRole('heading', { name: 'Choose a new password' }).waitFor();
  await page.getByLabel('Current password').fill(gatehouse.bootstrapPassword);
  await page.getByLabel('New password', { exact: true }).fill(NEW_ADMIN_PASSWORD);
  await page.getByLabel('Repeat the new password').fill(NEW_ADMIN_PASSWORD);
  await page.getByRole('button', { name: 'Change password' }).click();
  await page.getByRole('navigation', { name: 'Admin' }).waitFor();
}
