/**
 * Admin › Authentication › API Clients in Chromium (issue #13, test 2): create a client with
 * scope `data` in the dialog, read its ID and secret there once; after a reload the secret is
 * nowhere (page, storage, history) and the list shows only the partial ID; the credentials get a
 * token from /oauth/token over real HTTP; More › Delete › Revoke in the UI; then the token
 * endpoint answers invalid_client and introspection says inactive. Plus axe-core scans and the
 * page at 375 px.
 */
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { SCOPES } from '../../src/tokens/scopes.js';
import {
  BROWSER_TEST_TIMEOUT,
  describeBrowser,
  expectAccessible,
  type Gatehouse,
  launchChromium,
  NEW_ADMIN_PASSWORD,
  newContext,
  screenshot,
  signInAsNewAdmin,
  signInThroughForm,
  startGatehouse,
} from '../helpers/browser.js';

function basic(id: string, secret: string): string {
  return `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;
}

describeBrowser('admin UI: API Clients', { timeout: BROWSER_TEST_TIMEOUT }, () => {
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

  const tokenRequest = (id: string, secret: string) =>
    fetch(`${gatehouse.url}/oauth/token`, {
      method: 'POST',
      headers: { authorization: basic(id, secret), 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials&scope=data',
    });

  it('creates a client with scope data, shows the secret once, and revokes it through More › Delete › Revoke', async () => {
    await page.getByRole('navigation', { name: 'Admin' }).getByRole('link', { name: 'API Clients' }).click();
    await page.getByRole('heading', { name: 'API Clients', level: 1 }).waitFor();
    expect(new URL(page.url()).pathname).toBe('/admin/clients');
    await expectAccessible(page, 'API Clients list (empty)');

    await page.getByRole('button', { name: 'Create', exact: true }).click();
    const dialog = page.getByRole('dialog', { name: 'Create API client' });
    await dialog.waitFor();
    const boxes = dialog.getByRole('checkbox');
    // One box per scope of the catalog, none checked.
    await expect.poll(() => boxes.count()).toBe(SCOPES.length);
    for (const box of await boxes.all()) expect(await box.isChecked()).toBe(false);
    expect(await dialog.getByRole('checkbox', { name: /^data\b/ }).count()).toBe(1);
    await expectAccessible(page, 'Create API client dialog');

    // Nothing chosen: the server's message, and the dialog stays.
    await dialog.getByLabel('Name').fill('Nightly sync');
    await dialog.getByLabel('Description').fill('Copies the data sets every night');
    await dialog.getByRole('button', { name: 'Create', exact: true }).click();
    await expect
      .poll(() => dialog.getByRole('alert').textContent())
      .toMatch(/"scopes" must name at least one/);

    await dialog.getByRole('checkbox', { name: /^data\b/ }).check();
    await dialog.getByRole('button', { name: 'Create', exact: true }).click();
    const created = page.getByRole('dialog', { name: 'API client created' });
    await created.waitFor();
    const clientId = await created.getByLabel('Client ID').inputValue();
    const secret = await created.getByLabel('Client secret').inputValue();
    expect(clientId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(secret).toMatch(/^[0-9a-f]{64}$/);
    expect(await created.textContent()).toContain('This is the only time the client secret is shown.');
    expect(await created.getByLabel('Token request').inputValue()).toBe(
      `curl -s -u '${clientId}:${secret}' -d grant_type=client_credentials --data-urlencode 'scope=data' ${gatehouse.url}/oauth/token`,
    );
    await expect.poll(() => created.getByRole('button', { name: 'Copy Client secret' }).count()).toBe(1);
    await created.getByRole('button', { name: 'Copy Client secret' }).click();
    await expect.poll(() => page.evaluate('navigator.clipboard.readText()')).toBe(secret);
    await screenshot(page, 'api-client-created');
    await expectAccessible(page, 'API client created dialog');

    // Closing drops it: the dialog and its content leave the page.
    await created.getByRole('button', { name: 'Done' }).click();
    await expect.poll(() => page.getByRole('dialog').count()).toBe(0);
    expect(await page.content()).not.toContain(secret);

    // After a reload: the list shows the partial ID only; the secret is nowhere.
    await page.reload();
    const row = page.getByRole('row').filter({ hasText: 'Nightly sync' });
    await row.waitFor();
    const partial = clientId.slice(0, 13);
    expect(await row.textContent()).toContain(partial);
    const html = await page.content();
    expect(html).not.toContain(secret);
    expect(html).not.toContain(clientId);
    const storage = (await page.evaluate(
      'JSON.stringify({ local: { ...localStorage }, session: { ...sessionStorage }, cookies: document.cookie })',
    )) as string;
    expect(storage).toBe('{"local":{},"session":{},"cookies":""}');
    const cdp = await context.newCDPSession(page);
    const history = (await cdp.send('Page.getNavigationHistory')) as {
      entries: Array<{ url: string; title: string }>;
    };
    expect(history.entries.length).toBeGreaterThan(1);
    for (const entry of history.entries) {
      expect(entry.url).not.toContain(secret);
      expect(entry.url).not.toContain(clientId);
      expect(entry.title).not.toContain(secret);
    }
    await cdp.detach();
    await screenshot(page, 'api-clients-list');
    await expectAccessible(page, 'API Clients list');

    // The credentials work at the token endpoint (real HTTP).
    const issued = await tokenRequest(clientId, secret);
    expect(issued.status).toBe(200);
    const accessToken = ((await issued.json()) as { access_token: string }).access_token;

    // An introspecting client (its owner, the admin, holds api.clients.manage_all), made over the API.
    const me = (await (await context.request.get('/api/admin/v1/me')).json()) as { csrfToken: string };
    const checker = await context.request.post('/api/admin/v1/clients', {
      headers: { 'x-csrf-token': me.csrfToken },
      data: { name: 'Introspector', scopes: ['audit'] },
    });
    expect(checker.status()).toBe(201);
    const checkerCreds = (await checker.json()) as { client_id: string; client_secret: string };
    const introspect = async () => {
      const res = await fetch(`${gatehouse.url}/oauth/introspect`, {
        method: 'POST',
        headers: {
          authorization: basic(checkerCreds.client_id, checkerCreds.client_secret),
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: `token=${encodeURIComponent(accessToken)}`,
      });
      expect(res.status).toBe(200);
      return (await res.json()) as { active: boolean };
    };
    expect((await introspect()).active).toBe(true);

    // More › Delete › Revoke.
    await page.reload();
    const target = page.getByRole('row').filter({ hasText: 'Nightly sync' });
    await target.getByRole('button', { name: 'More' }).click();
    await page.getByRole('menu').getByRole('menuitem', { name: 'Delete' }).click();
    const confirm = page.getByRole('dialog', { name: 'Delete the API client “Nightly sync”?' });
    await confirm.waitFor();
    const warning = (await confirm.textContent()) ?? '';
    expect(warning).toContain('This cannot be undone.');
    expect(warning).toContain('stop working at Gatehouse at once');
    expect(warning).toContain('at offline verifiers');
    await expectAccessible(page, 'Delete API client confirmation');
    await screenshot(page, 'api-client-delete-confirm');
    await confirm.getByRole('button', { name: 'Revoke' }).click();
    await expect.poll(() => page.getByRole('dialog').count()).toBe(0);
    await expect.poll(() => target.getByText('revoked').count()).toBe(1);
    expect(await target.getByRole('button', { name: 'More' }).count()).toBe(0);

    const refused = await tokenRequest(clientId, secret);
    expect(refused.status).toBe(401);
    expect(((await refused.json()) as { error: string }).error).toBe('invalid_client');
    expect(await introspect()).toEqual({ active: false });
  });

  it('searches on the server and rotates the secret of an own client', async () => {
    const me = (await (await context.request.get('/api/admin/v1/me')).json()) as { csrfToken: string };
    for (const name of ['Billing export', 'Billing import']) {
      const res = await context.request.post('/api/admin/v1/clients', {
        headers: { 'x-csrf-token': me.csrfToken },
        data: { name, scopes: ['data'] },
      });
      expect(res.status()).toBe(201);
    }
    await page.reload();
    await page.getByRole('row').filter({ hasText: 'Billing import' }).waitFor();
    await screenshot(page, 'api-clients-list-several');
    await page.getByLabel('Search by name').fill('billing');
    await expect.poll(() => page.getByRole('row').count()).toBe(3); // header + 2
    await page.getByLabel('Search by name').fill('billing imp');
    await expect.poll(() => page.getByRole('row').count()).toBe(2);

    const row = page.getByRole('row').filter({ hasText: 'Billing import' });
    await row.getByRole('button', { name: 'More' }).click();
    // Keyboard: the menu takes focus, arrows move, Escape closes and returns focus to "More".
    await expect.poll(() => page.evaluate('document.activeElement.textContent')).toBe('Rotate secret');
    await page.keyboard.press('ArrowDown');
    await expect.poll(() => page.evaluate('document.activeElement.textContent')).toBe('Delete');
    await page.keyboard.press('Escape');
    await expect.poll(() => page.getByRole('menu').count()).toBe(0);
    await expect.poll(() => page.evaluate('document.activeElement.textContent')).toBe('More');
    await page.keyboard.press('Enter');
    await page.getByRole('menuitem', { name: 'Rotate secret' }).click();
    const confirm = page.getByRole('dialog', { name: 'Rotate the secret of “Billing import”?' });
    await confirm.getByRole('button', { name: 'Rotate secret' }).click();
    const shown = page.getByRole('dialog', { name: 'New secret for “Billing import”' });
    await shown.waitFor();
    const secret = await shown.getByLabel('Client secret').inputValue();
    const id = await shown.getByLabel('Client ID').inputValue();
    expect((await tokenRequest(id, secret)).status).toBe(200);
    // Escape closes it like "Done", and the secret leaves the page.
    await page.keyboard.press('Escape');
    await expect.poll(() => page.getByRole('dialog').count()).toBe(0);
    expect(await page.content()).not.toContain(secret);
  });

  it('works at 375 px wide in the dark scheme: the navigation folds behind Menu, nothing scrolls sideways but the table', async () => {
    const narrow = await newContext(browser, gatehouse.url, { width: 375, colorScheme: 'dark' });
    try {
      const small = await narrow.newPage();
      await small.goto('/admin/clients');
      await signInThroughForm(small, gatehouse.adminEmail, NEW_ADMIN_PASSWORD);
      await small.getByRole('heading', { name: 'API Clients', level: 1 }).waitFor();
      expect(await small.getByRole('link', { name: 'Access Tokens' }).isVisible()).toBe(false);
      await small.getByRole('button', { name: 'Menu' }).click();
      expect(await small.getByRole('link', { name: 'Access Tokens' }).isVisible()).toBe(true);
      await small.getByRole('button', { name: 'Menu' }).click();
      expect(await small.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(375);
      await small.getByRole('button', { name: 'Create', exact: true }).click();
      await small.getByRole('dialog', { name: 'Create API client' }).waitFor();
      expect(await small.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(375);
      await screenshot(small, 'api-clients-375px-create');
      await expectAccessible(small, 'API Clients dialog at 375 px, dark');
      await small.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click();
      await expectAccessible(small, 'API Clients list at 375 px, dark');
    } finally {
      await narrow.close();
    }
  });
});
