/**
 * Admin › Security › Access Tokens in Chromium (issue #13, test 4): generate a developer token in
 * the UI (the expiry chosen explicitly), call /v1/workflows with it (200), revoke it in the UI,
 * and the same call gets 401. Plus axe-core scans of the page and its dialogs.
 */
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  BROWSER_TEST_TIMEOUT,
  describeBrowser,
  expectAccessible,
  type Gatehouse,
  launchChromium,
  newContext,
  screenshot,
  signInAsNewAdmin,
  startGatehouse,
} from '../helpers/browser.js';

describeBrowser('admin UI: Access Tokens', { timeout: BROWSER_TEST_TIMEOUT }, () => {
  let gatehouse: Gatehouse;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;

  beforeAll(async () => {
    [gatehouse, browser] = await Promise.all([startGatehouse(), launchChromium()]);
    context = await newContext(browser, gatehouse.url);
    page = await context.newPage();
    await signInAsNewAdmin(page, gatehouse);
  }, BROWSER_TEST_TIMEOUT);
  afterAll(async () => {
    await browser?.close();
    await gatehouse?.stop();
  });

  it('generates a developer token shown once, which works until it is revoked in the UI', async () => {
    await page
      .getByRole('navigation', { name: 'Admin' })
      .getByRole('link', { name: 'Access Tokens' })
      .click();
    await page.getByRole('heading', { name: 'Access Tokens', level: 1 }).waitFor();
    expect(new URL(page.url()).pathname).toBe('/admin/access-tokens');
    await expectAccessible(page, 'Access Tokens list (empty)');

    await page.getByRole('button', { name: 'Generate token' }).click();
    const dialog = page.getByRole('dialog', { name: 'Generate access token' });
    await dialog.waitFor();
    // No expiry is chosen for the user: generating without one says so.
    for (const radio of await dialog.getByRole('radio').all()) expect(await radio.isChecked()).toBe(false);
    await dialog.getByLabel('Description').fill('CI pipeline');
    await dialog.getByRole('button', { name: 'Generate' }).click();
    await expect
      .poll(() => dialog.getByRole('alert').textContent())
      .toBe('Choose when the token expires: after a number of days, or never.');
    await dialog.getByRole('radio', { name: 'After a number of days' }).check();
    await dialog.getByLabel('Days', { exact: true }).fill('7');
    await expectAccessible(page, 'Generate access token dialog');
    await dialog.getByRole('button', { name: 'Generate' }).click();

    const shown = page.getByRole('dialog', { name: 'Access token generated' });
    await shown.waitFor();
    const token = await shown.getByLabel('Access token').inputValue();
    expect(token).toMatch(/^gh_dev_/);
    expect(await shown.textContent()).toContain('This is the only time the token is shown.');
    await screenshot(page, 'access-token-generated');
    await shown.getByRole('button', { name: 'Done' }).click();
    await expect.poll(() => page.getByRole('dialog').count()).toBe(0);
    expect(await page.content()).not.toContain(token);

    const row = page.getByRole('row').filter({ hasText: 'CI pipeline' });
    await row.waitFor();
    const rowText = (await row.textContent()) ?? '';
    expect(rowText).toContain(token.slice(0, 15));
    expect(rowText).not.toContain(token);
    expect(rowText).toContain(gatehouse.adminEmail);
    expect(rowText).toContain('active');

    const callWorkflows = () =>
      fetch(`${gatehouse.url}/v1/workflows`, { headers: { authorization: `Bearer ${token}` } });
    expect((await callWorkflows()).status).toBe(200);

    // Search runs on the server.
    await page.getByLabel('Search by description or user').fill('no such token');
    await expect.poll(() => page.getByText('Nothing matches “no such token”.').count()).toBe(1);
    await page.getByLabel('Search by description or user').fill('pipeline');
    await row.waitFor();
    await screenshot(page, 'access-tokens-list');
    await expectAccessible(page, 'Access Tokens list');

    await row.getByRole('button', { name: 'Revoke' }).click();
    const confirm = page.getByRole('dialog', { name: /^Revoke the access token gh_dev_/ });
    await confirm.waitFor();
    expect(await confirm.textContent()).toContain('This cannot be undone.');
    await expectAccessible(page, 'Revoke access token confirmation');
    await confirm.getByRole('button', { name: 'Revoke' }).click();
    await expect.poll(() => page.getByRole('dialog').count()).toBe(0);
    await expect.poll(() => row.getByText('revoked').count()).toBe(1);

    const after = await callWorkflows();
    expect(after.status).toBe(401);
  });
});
