/**
 * Admin › API platform in Chromium (issue 14), against one `gatehouse serve` and a real upstream:
 * a collection and an endpoint made in the UI (a refusal shown at the field the API names), a
 * token access profile whose API token is shown once (gone after Done and a reload) and calls the
 * endpoint through the gateway; edit (the IP allow-list turns the call into a 403), disable (401),
 * regenerate; and the pages hidden from a role without `gateway.manage`. axe-core scans each page.
 */
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core';
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
  signInThroughForm,
  startGatehouse,
} from '../helpers/browser.js';
import { selfSignedCertificate } from '../helpers/certificates.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

describeBrowser('admin UI: API platform', { timeout: BROWSER_TEST_TIMEOUT }, () => {
  let gatehouse: Gatehouse;
  let upstream: Upstream;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;

  beforeAll(async () => {
    [gatehouse, browser, upstream] = await Promise.all([startGatehouse(), launchChromium(), startUpstream()]);
    context = await newContext(browser, gatehouse.url);
    page = await context.newPage();
    await signInAsNewAdmin(page, gatehouse);
  }, BROWSER_TEST_TIMEOUT);
  afterAll(async () => {
    await browser?.close();
    await upstream?.close();
    await gatehouse?.stop();
  });

  const open = async (link: string) => {
    await page
      .getByRole('navigation', { name: 'Admin' })
      .getByRole('link', { name: link, exact: true })
      .click();
    await page.getByRole('heading', { level: 1, name: link }).waitFor();
  };
  const row = (scope: Page | Locator, text: string) =>
    scope.getByRole('row').filter({ has: page.getByText(text, { exact: true }) });
  /** The text an input's aria-describedby points at (its hint and the API's message for it). */
  const description = (input: Locator) =>
    input.evaluate((el) =>
      (el.getAttribute('aria-describedby') ?? '')
        .split(' ')
        .map((id: string) => el.ownerDocument.getElementById(id)?.textContent ?? '')
        .join(' '),
    );
  const call = (token: string) =>
    fetch(`${gatehouse.url}/shop/orders/42?x=1`, { headers: { 'api-token': token } });

  it('creates a collection and an endpoint, each refusal shown at its field', async () => {
    const nav = page.getByRole('navigation', { name: 'Admin' });
    await nav.getByRole('heading', { name: 'API platform' }).waitFor();
    await open('API collections');
    expect(new URL(page.url()).pathname).toBe('/admin/platform/collections');
    await page.getByText('No API collections yet.').waitFor();

    await page.getByRole('button', { name: 'Create collection' }).click();
    const dialog = page.getByRole('dialog', { name: 'Create API collection' });
    await dialog.getByLabel('Name').fill('Shop');
    await dialog.getByLabel('Prefix').fill('api');
    await dialog.getByLabel('Upstream URL').fill(upstream.url);
    await dialog.getByRole('button', { name: 'Create' }).click();
    const prefix = dialog.getByLabel('Prefix');
    await expect.poll(() => prefix.getAttribute('aria-invalid')).toBe('true');
    expect(await description(prefix)).toContain(`The prefix "api" is reserved for Gatehouse's own routes.`);
    // The message is at the field, not in a banner; the field has the focus.
    expect(await dialog.getByRole('alert').count()).toBe(0);
    expect(await prefix.evaluate((el) => el === el.ownerDocument.activeElement)).toBe(true);
    await expectAccessible(page, 'collection dialog with a field error');
    await screenshot(page, 'platform-collection-field-error');

    await prefix.fill('shop');
    await dialog.getByLabel('Description').fill('Orders and carts');
    await dialog.getByRole('button', { name: 'Create' }).click();
    await expect.poll(() => page.getByRole('dialog').count()).toBe(0);
    const shop = row(page, 'Shop');
    await shop.waitFor();
    expect(await shop.getByRole('cell').allTextContents()).toEqual(
      expect.arrayContaining(['Shop', '/shop', upstream.url, '0', 'enabled']),
    );
    await expectAccessible(page, 'API collections');

    // Its page: the endpoints.
    await shop.getByRole('link', { name: 'Shop' }).click();
    await page.getByRole('heading', { level: 1, name: 'API collection' }).waitFor();
    await page.getByText(`${gatehouse.url}/shop/…`).waitFor();
    await page.getByRole('button', { name: 'Add endpoint' }).click();
    const add = page.getByRole('dialog', { name: 'Add endpoint' });
    await add.getByLabel('Name').fill('Get order');
    await add.getByLabel('Method').selectOption('GET');
    await add.getByLabel('Path', { exact: true }).fill('/orders/:id');
    await add.getByLabel('Upstream path (optional)').fill('/echo/:id');
    await add.getByLabel('Timeout (milliseconds)').fill('5');
    await add.getByRole('button', { name: 'Add endpoint' }).click();
    const timeout = add.getByLabel('Timeout (milliseconds)');
    await expect.poll(() => timeout.getAttribute('aria-invalid')).toBe('true');
    expect(await description(timeout)).toContain(
      '"timeoutMs" must be a whole number of milliseconds from 100',
    );
    await timeout.fill('5000');
    await add.getByRole('button', { name: 'Add endpoint' }).click();
    const endpoint = row(page, 'Get order');
    await endpoint.waitFor();
    expect(await endpoint.getByRole('cell').allTextContents()).toEqual(
      expect.arrayContaining(['Get order', 'GET', '/orders/:id', '/echo/:id', '5 s', 'enabled']),
    );
    await expectAccessible(page, 'API collection and its endpoints');

    // Edit: the endpoint's name; the collection's description.
    await endpoint.getByRole('button', { name: 'More' }).click();
    await page.getByRole('menuitem', { name: 'Edit' }).click();
    const edit = page.getByRole('dialog', { name: 'Edit the endpoint “Get order”' });
    await edit.getByLabel('Name').fill('Read order');
    await edit.getByRole('button', { name: 'Save' }).click();
    await row(page, 'Read order').waitFor();
    await page.getByRole('button', { name: 'Edit collection' }).click();
    const editCollection = page.getByRole('dialog', { name: 'Edit the collection “Shop”' });
    expect(await editCollection.getByLabel('Prefix').inputValue()).toBe('shop');
    await editCollection.getByLabel('Description').fill('Orders only');
    await editCollection.getByRole('button', { name: 'Save' }).click();
    await page.getByText('Orders only').waitFor();

    // Import from an OpenAPI document: a bad one refused with its pointer; a preview, then the import.
    await page.getByRole('button', { name: 'Import from OpenAPI' }).click();
    const importing = page.getByRole('dialog', { name: 'Import endpoints into “Shop”' });
    const documentBox = importing.getByLabel('Document');
    await documentBox.fill(
      JSON.stringify({ openapi: '3.0.3', info: { title: 'x', version: '1' }, paths: { carts: {} } }),
    );
    await importing.getByRole('button', { name: 'Preview' }).click();
    await expect.poll(() => importing.getByRole('alert').textContent()).toContain('/paths/carts');
    const openapi = {
      openapi: '3.0.3',
      info: { title: 'Shop', version: '1' },
      paths: {
        '/carts/{cartId}': { get: { operationId: 'getCart' }, delete: { summary: 'Drop a cart' } },
      },
    };
    await documentBox.fill(JSON.stringify(openapi));
    expect(await importing.getByRole('button', { name: 'Import', exact: true }).isDisabled()).toBe(true);
    await importing.getByRole('button', { name: 'Preview' }).click();
    await importing.getByText('The import would create 2, replace 0 and skip 0 endpoints:').waitFor();
    expect(await importing.getByRole('listitem').allTextContents()).toEqual([
      'created GET /carts/:cartId getCart',
      'created DELETE /carts/:cartId Drop a cart',
    ]);
    // A dry run wrote nothing.
    expect(await page.getByRole('region', { name: 'Endpoints of Shop' }).getByRole('row').count()).toBe(2);
    await importing.getByRole('button', { name: 'Import', exact: true }).click();
    await page.getByText('Imported: 2 created, 0 replaced, 0 skipped.').waitFor();
    await row(page, 'getCart').waitFor();
    await row(page, 'Drop a cart').waitFor();
    await screenshot(page, 'platform-collection');
  });

  it('creates a token profile whose API token is shown once, calls through it, edits, disables and regenerates it', async () => {
    await open('Access profiles');
    await page.getByRole('button', { name: 'Create access profile' }).click();
    const dialog = page.getByRole('dialog', { name: 'Create access profile' });
    await dialog.getByLabel('Name').fill('Partner A');
    await dialog.getByRole('radio', { name: /^API token/ }).check();
    await dialog.getByRole('checkbox', { name: /^Shop/ }).check();
    const ips = dialog.getByLabel('IP allow-list (optional)');
    await ips.fill('127.0.0.1\nnot-an-address');
    await dialog.getByRole('button', { name: 'Create' }).click();
    await expect.poll(() => ips.getAttribute('aria-invalid')).toBe('true');
    expect(await description(ips)).toContain('"not-an-address" is not an IP address or CIDR');
    await ips.fill('127.0.0.1\n::1');
    await expectAccessible(page, 'access profile dialog');
    await dialog.getByRole('button', { name: 'Create' }).click();

    const shown = page.getByRole('dialog', { name: 'Credentials of “Partner A”' });
    const token = await shown.getByLabel('API token').inputValue();
    expect(token).toMatch(/^gh_api_/);
    expect(await shown.textContent()).toContain('You will not see this again.');
    expect(await shown.getByLabel('Example call').inputValue()).toBe(
      `curl -s -H 'api-token: ${token}' ${gatehouse.url}/shop/…`,
    );
    await shown.getByRole('button', { name: 'Copy API token' }).click();
    await expect.poll(() => page.evaluate('navigator.clipboard.readText()')).toBe(token);
    await expectAccessible(page, 'credentials shown once');
    await screenshot(page, 'platform-profile-credentials');

    // The token reaches the upstream through the gateway.
    const answer = await call(token);
    expect(answer.status).toBe(200);
    expect(((await answer.json()) as { path: string }).path).toBe('/echo/42');

    // Done drops it; after a reload the list shows its first characters only.
    await shown.getByRole('button', { name: 'Done' }).click();
    await expect.poll(() => page.getByRole('dialog').count()).toBe(0);
    expect(await page.content()).not.toContain(token);
    await page.reload();
    const partner = row(page, 'Partner A');
    await partner.waitFor();
    const cells = await partner.getByRole('cell').allTextContents();
    expect(cells).toEqual(expect.arrayContaining(['/shop', '127.0.0.1/32::1/128', 'enabled']));
    expect(cells[1]).toContain(`API token ${token.slice(0, 10)}`);
    expect(await page.content()).not.toContain(token);
    await expectAccessible(page, 'Access profiles');

    // Edit: another allow-list → the call from 127.0.0.1 is refused.
    await partner.getByRole('button', { name: 'More' }).click();
    await page.getByRole('menuitem', { name: 'Edit' }).click();
    const edit = page.getByRole('dialog', { name: 'Edit the access profile “Partner A”' });
    expect(await edit.getByRole('checkbox', { name: /^Shop/ }).isChecked()).toBe(true);
    await edit.getByLabel('IP allow-list (optional)').fill('203.0.113.0/24');
    await edit.getByRole('button', { name: 'Save' }).click();
    await expect.poll(() => partner.getByRole('cell').nth(3).textContent()).toBe('203.0.113.0/24');
    expect((await call(token)).status).toBe(403);

    // Disable → 401; enable again, with any address.
    await partner.getByRole('button', { name: 'More' }).click();
    await page.getByRole('menuitem', { name: 'Disable' }).click();
    await expect.poll(() => partner.getByText('disabled', { exact: true }).count()).toBe(1);
    expect((await call(token)).status).toBe(401);
    await partner.getByRole('button', { name: 'More' }).click();
    await page.getByRole('menuitem', { name: 'Edit' }).click();
    await edit.getByLabel('IP allow-list (optional)').fill('');
    await edit.getByLabel('Enabled').check();
    await edit.getByRole('button', { name: 'Save' }).click();
    await expect.poll(() => partner.getByText('enabled', { exact: true }).count()).toBe(1);
    expect((await call(token)).status).toBe(200);

    // Regenerate: a new token shown once; the old one stops at once.
    await partner.getByRole('button', { name: 'More' }).click();
    await page.getByRole('menuitem', { name: 'Regenerate credentials' }).click();
    await page
      .getByRole('dialog', { name: 'Regenerate the credentials of “Partner A”?' })
      .getByRole('button', { name: 'Regenerate' })
      .click();
    const again = page.getByRole('dialog', { name: 'Credentials of “Partner A”' });
    const renewed = await again.getByLabel('API token').inputValue();
    expect(renewed).not.toBe(token);
    await again.getByRole('button', { name: 'Done' }).click();
    expect((await call(token)).status).toBe(401);
    expect((await call(renewed)).status).toBe(200);
  });

  it('creates an oauth2 profile (its client secret shown once works at /oauth2/token) and a jwt profile', async () => {
    await page.getByRole('button', { name: 'Create access profile' }).click();
    const dialog = page.getByRole('dialog', { name: 'Create access profile' });
    await dialog.getByLabel('Name').fill('Partner B');
    await dialog.getByRole('radio', { name: /^OAuth 2.0/ }).check();
    await dialog.getByRole('checkbox', { name: /^Shop/ }).check();
    await dialog.getByRole('button', { name: 'Create' }).click();
    const shown = page.getByRole('dialog', { name: 'Credentials of “Partner B”' });
    const clientId = await shown.getByLabel('Client ID').inputValue();
    const secret = await shown.getByLabel('Client secret').inputValue();
    expect(await shown.textContent()).toContain('You will not see this again.');
    const issued = await fetch(`${gatehouse.url}/oauth2/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: clientId,
        client_secret: secret,
      }),
    });
    expect(issued.status).toBe(200);
    const { access_token } = (await issued.json()) as { access_token: string };
    const called = await fetch(`${gatehouse.url}/shop/orders/7`, {
      headers: { authorization: `Bearer ${access_token}` },
    });
    expect(called.status).toBe(200);
    await shown.getByRole('button', { name: 'Done' }).click();
    expect(await row(page, 'Partner B').getByRole('cell').nth(1).textContent()).toContain(
      `OAuth 2.0 ${clientId.slice(0, 8)}`,
    );

    // jwt: required claims that are not a JSON object are refused at their field, before any call.
    await page.getByRole('button', { name: 'Create access profile' }).click();
    await dialog.getByLabel('Name').fill('Partner C');
    await dialog.getByRole('radio', { name: /^JWT/ }).check();
    await dialog
      .getByRole('textbox', { name: 'JWKS URL' })
      .fill('https://idp.example.com/.well-known/jwks.json');
    await dialog.getByRole('textbox', { name: 'Issuer' }).fill('https://idp.example.com/');
    const claims = dialog.getByLabel('Required claims (optional)');
    await claims.fill('tier=gold');
    await dialog.getByRole('button', { name: 'Create' }).click();
    await expect.poll(() => claims.getAttribute('aria-invalid')).toBe('true');
    expect(await description(claims)).toContain('Required claims must be a JSON object');
    await claims.fill('{"tier": "gold"}');
    await dialog.getByRole('button', { name: 'Create' }).click();
    // No credential to show: the identity provider issues the tokens.
    await expect.poll(() => page.getByRole('dialog').count()).toBe(0);
    await expect
      .poll(() => row(page, 'Partner C').getByRole('cell').nth(1).textContent())
      .toBe('JWT https://idp.example.com/');
  });

  it('creates a policy (a bad limit refused at its field), gives it to a profile (429 past its quota), and refuses deleting it while used', async () => {
    await open('Policies');
    await page.getByRole('button', { name: 'Create policy' }).click();
    const dialog = page.getByRole('dialog', { name: 'Create policy' });
    await dialog.getByLabel('Name').fill('Trial');
    const rate = dialog.getByRole('spinbutton', { name: 'Calls', exact: true });
    await rate.fill('0');
    await dialog.getByRole('checkbox', { name: 'Limit quota' }).check();
    await dialog.getByRole('spinbutton', { name: 'Calls in the quota' }).fill('1');
    await dialog.getByLabel('Per (UTC)').selectOption('day');
    await dialog.getByRole('button', { name: 'Create' }).click();
    await expect.poll(() => rate.getAttribute('aria-invalid')).toBe('true');
    expect(await description(rate)).toContain('The rate limit must be a whole number from 1 to');
    await rate.fill('50');
    await expectAccessible(page, 'policy dialog');
    await dialog.getByRole('button', { name: 'Create' }).click();
    const trial = row(page, 'Trial');
    await trial.waitFor();
    expect(await trial.getByRole('cell').allTextContents()).toEqual(
      expect.arrayContaining(['50 / second', '1 / day', 'none', '0']),
    );
    await expectAccessible(page, 'Policies');

    // Partner A gets it: past its quota of 1 a day, 429 with Retry-After.
    const token = await (async () => {
      await open('Access profiles');
      const partner = row(page, 'Partner A');
      await partner.getByRole('button', { name: 'More' }).click();
      await page.getByRole('menuitem', { name: 'Regenerate credentials' }).click();
      await page.getByRole('button', { name: 'Regenerate' }).click();
      const shown = page.getByRole('dialog', { name: 'Credentials of “Partner A”' });
      const value = await shown.getByLabel('API token').inputValue();
      await shown.getByRole('button', { name: 'Done' }).click();
      await partner.getByRole('button', { name: 'More' }).click();
      await page.getByRole('menuitem', { name: 'Edit' }).click();
      const edit = page.getByRole('dialog', { name: 'Edit the access profile “Partner A”' });
      await edit.getByLabel('Policy').selectOption({ label: 'Trial' });
      await edit.getByRole('button', { name: 'Save' }).click();
      await expect.poll(() => partner.getByRole('cell').nth(4).textContent()).toBe('Trial');
      return value;
    })();
    expect((await call(token)).status).toBe(200);
    const over = await call(token);
    expect(over.status).toBe(429);
    expect(Number(over.headers.get('retry-after'))).toBeGreaterThan(0);

    await open('Policies');
    await expect.poll(() => trial.getByRole('cell').nth(5).textContent()).toBe('1');
    await trial.getByRole('button', { name: 'More' }).click();
    await page.getByRole('menuitem', { name: 'Delete' }).click();
    const confirm = page.getByRole('dialog', { name: 'Delete the policy “Trial”?' });
    await confirm.getByRole('button', { name: 'Delete' }).click();
    await expect
      .poll(() => confirm.getByRole('alert').textContent())
      .toContain('The policy "Trial" is used by the access profile "Partner A"');
    await confirm.getByRole('button', { name: 'Cancel' }).click();
  });

  it('registers a custom domain, gives it a certificate (a wrong one refused at its field) and deletes it', async () => {
    await open('Custom domains');
    await page.getByRole('button', { name: 'Register custom domain' }).click();
    const dialog = page.getByRole('dialog', { name: 'Register custom domain' });
    const host = dialog.getByLabel('Host name');
    await host.fill('203.0.113.9');
    await dialog.getByRole('button', { name: 'Register' }).click();
    await expect.poll(() => host.getAttribute('aria-invalid')).toBe('true');
    expect(await description(host)).toContain('is an IP address; a custom domain is a DNS name.');
    await host.fill('api.example.test');
    await dialog.getByRole('button', { name: 'Register' }).click();
    const domain = row(page, 'api.example.test');
    await domain.waitFor();
    // The issuer takes the instance's scheme (plain HTTP in this test).
    expect(await domain.getByRole('cell').allTextContents()).toEqual(
      expect.arrayContaining(['http://api.example.test', "the instance's own", 'enabled']),
    );
    await expectAccessible(page, 'Custom domains');

    const [wrong, right] = await Promise.all([
      selfSignedCertificate(['other.example.test']),
      selfSignedCertificate(['api.example.test']),
    ]);
    await domain.getByRole('button', { name: 'More' }).click();
    await page.getByRole('menuitem', { name: 'Add certificate' }).click();
    const pem = page.getByRole('dialog', { name: 'Replace the certificate of api.example.test' });
    const certificate = pem.getByLabel('Certificate');
    await certificate.fill(wrong.cert);
    await pem.getByLabel('Private key').fill(wrong.key);
    await pem.getByRole('button', { name: 'Replace certificate' }).click();
    await expect.poll(() => certificate.getAttribute('aria-invalid')).toBe('true');
    expect(await description(certificate)).toContain(
      'The certificate does not cover api.example.test: its DNS names are other.example.test.',
    );
    await certificate.fill(right.cert);
    await pem.getByLabel('Private key').fill(right.key);
    await pem.getByRole('button', { name: 'Replace certificate' }).click();
    await expect
      .poll(() => domain.getByRole('cell').nth(2).textContent())
      .toMatch(/^api\.example\.testuntil /);
    // The key went in; it is nowhere on the page now.
    const keyLine = right.key.split('\n')[1] ?? '';
    expect(keyLine.length).toBeGreaterThan(20);
    expect(await page.content()).not.toContain(keyLine);
    await screenshot(page, 'platform-domains');

    await domain.getByRole('button', { name: 'More' }).click();
    await page.getByRole('menuitem', { name: 'Delete' }).click();
    await page
      .getByRole('dialog', { name: 'Delete the custom domain api.example.test?' })
      .getByRole('button', { name: 'Delete' })
      .click();
    await page.getByText('No custom domains yet').waitFor();
  });

  it('shows the calls: counters with a chart, the log filtered by status, a bad filter refused at its field', async () => {
    await open('Call logs');
    const counters = page.getByRole('region', { name: 'Counters' });
    // Calls are written in batches (within about a second): refresh until the counters have them.
    await expect
      .poll(async () => {
        await counters.getByRole('button', { name: 'Refresh' }).click();
        return counters.getByRole('row').filter({ hasText: 'Shop › Read order' }).count();
      })
      .toBe(1);
    const chart = counters.getByRole('img', { name: /^Calls per / });
    expect(await chart.evaluate((el) => el.tagName)).toBe('svg');
    expect(await description(chart)).toMatch(/^\d+ calls and 0 errors from /);
    expect(await chart.locator('rect.chart-calls').count()).toBeGreaterThan(0);
    await expectAccessible(page, 'Call logs');
    await screenshot(page, 'platform-call-logs');

    const filters = page.getByRole('form', { name: 'Call log filters' });
    const status = filters.getByLabel('Status');
    await status.fill('abc');
    await filters.getByRole('button', { name: 'Apply filters' }).click();
    await expect.poll(() => status.getAttribute('aria-invalid')).toBe('true');
    expect(await description(status)).toContain(
      '"status" must be a status such as 404 or a class such as 5xx.',
    );
    await status.fill('403');
    await filters.getByLabel('Collection').selectOption({ label: 'Shop (/shop)' });
    await filters.getByRole('button', { name: 'Apply filters' }).click();
    const calls = page.getByRole('region', { name: 'Calls' });
    // Until the filtered page arrives the table shows the last one: wait for its statuses to be only 403.
    await expect
      .poll(() => calls.locator('tbody td[data-label="Status"]').allTextContents())
      .toEqual(['403']);
    expect(await calls.getByRole('row').nth(1).getByRole('cell').allTextContents()).toEqual(
      expect.arrayContaining(['403', 'GET /shop/orders/42', 'Partner A']),
    );
  });

  it('shows the API platform pages only to a role holding gateway.manage', async () => {
    const me = (await (await context.request.get('/api/admin/v1/me')).json()) as { csrfToken: string };
    const headers = { 'x-csrf-token': me.csrfToken };
    const roles = (await (await context.request.get('/api/admin/v1/roles')).json()) as {
      items: Array<{ id: number; name: string }>;
    };
    const editor = roles.items.find((r) => r.name === 'Editor')!;
    const user = (await (
      await context.request.post('/api/admin/v1/users', {
        headers,
        data: { email: 'editor@example.com', role: editor.id },
      })
    ).json()) as { id: number };
    const reset = (await (
      await context.request.post(`/api/admin/v1/users/${user.id}/password`, { headers, data: {} })
    ).json()) as { password: string };

    const theirs = await newContext(browser, gatehouse.url);
    try {
      const p = await theirs.newPage();
      await p.goto('/admin/platform/profiles');
      await signInThroughForm(p, 'editor@example.com', reset.password);
      await p.getByLabel('Current password').fill(reset.password);
      await p.getByLabel('New password', { exact: true }).fill('amber-lighthouse-orchard-17');
      await p.getByLabel('Repeat the new password').fill('amber-lighthouse-orchard-17');
      await p.getByRole('button', { name: 'Change password' }).click();
      const nav = p.getByRole('navigation', { name: 'Admin' });
      await nav.getByRole('link', { name: 'Workflows' }).waitFor();
      expect(await nav.getByRole('heading', { name: 'API platform' }).count()).toBe(0);
      expect(await nav.getByRole('link', { name: 'Access profiles' }).count()).toBe(0);
      await p.goto('/admin/platform/profiles');
      await p.getByRole('heading', { level: 1, name: 'Not found' }).waitFor();
    } finally {
      await theirs.close();
    }
  });

  it('passes axe at 375 px in dark on every API platform page', async () => {
    await page.setViewportSize({ width: 375, height: 800 });
    await page.emulateMedia({ colorScheme: 'dark' });
    for (const [path, heading] of [
      ['/admin/platform/collections', 'API collections'],
      ['/admin/platform/collections/shop', 'API collection'],
      ['/admin/platform/profiles', 'Access profiles'],
      ['/admin/platform/policies', 'Policies'],
      ['/admin/platform/domains', 'Custom domains'],
      ['/admin/platform/logs', 'Call logs'],
    ] as const) {
      await page.goto(path);
      await page.getByRole('heading', { level: 1, name: heading }).waitFor();
      await page.getByRole('table').first().waitFor();
      await expectAccessible(page, `${heading} at 375 px, dark`);
    }
    await screenshot(page, 'platform-call-logs-375-dark');
  });
});
