/**
 * The admin UI in Chromium: sign in as the bootstrap admin, the forced password change, the
 * shell's headers (CSP), sign out, and a deep link that comes back after sign-in.
 */
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  BROWSER_TEST_TIMEOUT,
  describeBrowser,
  expectAccessible,
  type Gatehouse,
  launchChromium,
  NEW_ADMIN_PASSWORD,
  newContext,
  screenshot,
  signInThroughForm,
  startGatehouse,
} from '../helpers/browser.js';

const CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "font-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

describeBrowser('admin UI: sign-in', { timeout: BROWSER_TEST_TIMEOUT }, () => {
  let gatehouse: Gatehouse;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  const consoleErrors: string[] = [];

  beforeAll(async () => {
    [gatehouse, browser] = await Promise.all([startGatehouse(), launchChromium()]);
    context = await newContext(browser, gatehouse.url);
    page = await context.newPage();
    page.on('console', (message) => {
      if (message.type() === 'error') consoleErrors.push(message.text());
    });
  }, BROWSER_TEST_TIMEOUT);
  afterAll(async () => {
    await browser?.close();
    await gatehouse?.stop();
  });

  it('signs in as the bootstrap admin and changes the generated password', async () => {
    const first = await page.goto('/');
    // / → /admin/ (index.html), which sends a signed-out visitor to sign-in.
    expect(first?.status()).toBe(200);
    expect(first?.headers()['content-security-policy']).toBe(CSP);
    expect(first?.headers()['x-frame-options']).toBe('DENY');
    expect(first?.headers()['cache-control']).toBe('no-store');
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    expect(new URL(page.url()).pathname).toBe('/admin/sign-in');
    await expectAccessible(page, 'sign-in');

    // A wrong password: the server's message, no session.
    await signInThroughForm(page, gatehouse.adminEmail, 'not-the-password');
    await expect.poll(() => page.getByRole('alert').textContent()).toMatch(/password/i);

    await signInThroughForm(page, gatehouse.adminEmail, gatehouse.bootstrapPassword);
    await page.getByRole('heading', { name: 'Choose a new password' }).waitFor();
    await expectAccessible(page, 'forced password change');
    await page.getByLabel('Current password').fill(gatehouse.bootstrapPassword);
    await page.getByLabel('New password', { exact: true }).fill(NEW_ADMIN_PASSWORD);
    await page.getByLabel('Repeat the new password').fill(NEW_ADMIN_PASSWORD);
    await page.getByRole('button', { name: 'Change password' }).click();

    const nav = page.getByRole('navigation', { name: 'Admin' });
    await nav.waitFor();
    await expect.poll(() => page.locator('.who-email').textContent()).toBe(gatehouse.adminEmail);
    await screenshot(page, 'sign-in-after-password-change');
    await expectAccessible(page, 'app shell');

    // The new password works through the API, the generated one no longer does.
    const signIn = (password: string) =>
      fetch(`${gatehouse.url}/api/admin/v1/session`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: gatehouse.adminEmail, password }),
      });
    expect((await signIn(NEW_ADMIN_PASSWORD)).status).toBe(200);
    expect((await signIn(gatehouse.bootstrapPassword)).status).toBe(401);
  });

  it('signs out, and after signing in again returns to the page the user had opened', async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    const cookies = await context.cookies();
    expect(cookies.filter((c) => c.name === 'gatehouse_session')).toEqual([]);

    // A deep link while signed out: sign-in remembers the path, and only the path.
    await page.goto('/admin/some/deep/page');
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    expect(new URL(page.url()).pathname + new URL(page.url()).search).toBe(
      '/admin/sign-in?next=%2Fsome%2Fdeep%2Fpage',
    );
    await signInThroughForm(page, gatehouse.adminEmail, NEW_ADMIN_PASSWORD);
    await page.getByRole('heading', { name: 'Not found' }).waitFor();
    expect(new URL(page.url()).pathname).toBe('/admin/some/deep/page');

    // The session ends behind the page's back (signed out elsewhere): the next call answers 401
    // and the page goes back to sign-in, keeping its path.
    await context.clearCookies();
    await page.goto('/admin/another/page');
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    expect(new URL(page.url()).search).toBe('?next=%2Fanother%2Fpage');
    expect(consoleErrors.filter((e) => !/401|Unauthorized/.test(e))).toEqual([]);
  });
});
