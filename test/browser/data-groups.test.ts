/**
 * The DataSets page (list, schema, row count, a preview of the first rows, PDP policies) and the Groups panel of
 * the Users page (create, rename, members add/remove, delete) in Chromium, against one
 * `gatehouse serve`. Both call the public REST APIs (/v1/datasets, /v1/groups, /v1/users) with the
 * admin session and its CSRF token. axe-core scans each, in light at 1280 px and dark at 375 px.
 */
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core';
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
  signInAsNewAdmin,
  startGatehouse,
} from '../helpers/browser.js';

/** 25 rows: the preview shows the first 20. Row 2 has a quoted comma and an empty (null) DATE. */
const CSV = [
  'East,12.5,2026-01-31',
  '"North, upper",7,',
  ...Array.from(
    { length: 23 },
    (_, i) => `Region ${i + 3},${i + 3},2026-02-${String((i % 28) + 1).padStart(2, '0')}`,
  ),
].join('\n');

describeBrowser('admin UI: DataSets and Groups', { timeout: BROWSER_TEST_TIMEOUT }, () => {
  let gatehouse: Gatehouse;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  const consoleErrors: string[] = [];

  /** A write through the REST API with the admin's session, as the UI makes it (cookie + X-CSRF-Token). */
  let session: { cookie: string; csrf: string };
  const apiCall = async (method: string, url: string, body: string, contentType = 'application/json') => {
    const res = await fetch(`${gatehouse.url}${url}`, {
      method,
      headers: { cookie: session.cookie, 'x-csrf-token': session.csrf, 'content-type': contentType },
      body,
    });
    expect(res.status, `${method} ${url}: ${await res.clone().text()}`).toBeLessThan(300);
    return res.status === 204 ? undefined : ((await res.json()) as Record<string, unknown>);
  };

  beforeAll(async () => {
    [gatehouse, browser] = await Promise.all([startGatehouse(), launchChromium()]);
    context = await newContext(browser, gatehouse.url);
    page = await context.newPage();
    page.on('console', (message) => {
      if (message.type() === 'error') consoleErrors.push(message.text());
    });
    await signInAsNewAdmin(page, gatehouse);
    const signedIn = await fetch(`${gatehouse.url}/api/admin/v1/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: gatehouse.adminEmail, password: NEW_ADMIN_PASSWORD }),
    });
    expect(signedIn.status).toBe(200);
    session = {
      cookie: (signedIn.headers.get('set-cookie') ?? '').split(';')[0] ?? '',
      csrf: ((await signedIn.json()) as { csrfToken: string }).csrfToken,
    };
    const created = await apiCall(
      'POST',
      '/v1/datasets',
      JSON.stringify({
        name: 'Regional sales',
        description: 'Sales by region and day',
        schema: {
          columns: [
            { name: 'Region', type: 'STRING' },
            { name: 'Amount', type: 'DECIMAL' },
            { name: 'Day', type: 'DATE' },
          ],
        },
      }),
    );
    await apiCall('PUT', `/v1/datasets/${created?.id}/data`, CSV, 'text/csv');
    const me = (await (
      await fetch(`${gatehouse.url}/api/admin/v1/me`, { headers: { cookie: session.cookie } })
    ).json()) as { user: { id: number } };
    await apiCall(
      'POST',
      `/v1/datasets/${created?.id}/policies`,
      JSON.stringify({
        name: 'East and West this year',
        users: [me.user.id],
        filters: [
          { column: 'Region', values: ['East', 'West'], operator: 'EQUALS' },
          { column: 'Day', values: ['2026-01-01', '2026-12-31'], operator: 'BETWEEN', not: true },
        ],
      }),
    );
    await apiCall(
      'POST',
      '/v1/datasets',
      JSON.stringify({ name: 'Empty targets', schema: { columns: [{ name: 'Target', type: 'LONG' }] } }),
    );
  }, BROWSER_TEST_TIMEOUT);
  afterAll(async () => {
    await browser?.close();
    await gatehouse?.stop();
  });

  const open = async (p: Page, link: string, heading = link) => {
    await p.getByRole('navigation', { name: 'Admin' }).getByRole('link', { name: link, exact: true }).click();
    await p.getByRole('heading', { level: 1, name: heading }).waitFor();
  };
  const row = (scope: Page | Locator, text: string) =>
    scope.getByRole('row').filter({ has: page.getByText(text, { exact: true }) });

  it('lists the DataSets with rows, columns, owner and update time, and searches by name', async () => {
    await open(page, 'DataSets');
    const sales = row(page, 'Regional sales');
    await sales.waitFor();
    const cells = await sales.getByRole('cell').allTextContents();
    expect(cells.slice(0, 4)).toEqual(['Regional sales', '25', '3', 'Administrator']);
    expect(cells[4]).toMatch(/\d/);
    expect(await row(page, 'Empty targets').getByRole('cell').nth(1).textContent()).toBe('0');
    await expectAccessible(page, 'DataSets');
    await page.getByLabel('Search by name').fill('regional');
    await expect.poll(() => page.getByRole('row').count()).toBe(2);
    await page.getByLabel('Search by name').fill('');
    await row(page, 'Empty targets').waitFor();
  });

  it('shows a DataSet: its facts, schema and the first 20 of its 25 rows, null where a value is empty', async () => {
    await page.getByRole('link', { name: 'Regional sales' }).click();
    await page.getByRole('heading', { level: 1, name: 'DataSet' }).waitFor();
    await page.getByText('Sales by region and day').waitFor();
    const schema = page.getByRole('region', { name: 'Columns of Regional sales' });
    expect(await schema.getByRole('row').allTextContents()).toEqual([
      '#ColumnType',
      '1RegionSTRING',
      '2AmountDECIMAL',
      '3DayDATE',
    ]);
    const preview = page.getByRole('region', { name: 'First rows of Regional sales' });
    await preview.waitFor();
    await page.getByText('The first 20 of 25 rows, in import order.').waitFor();
    const rows = preview.getByRole('row');
    expect(await rows.count()).toBe(21);
    expect(await rows.nth(1).getByRole('cell').allTextContents()).toEqual(['East', '12.5', '2026-01-31']);
    expect(await rows.nth(2).getByRole('cell').allTextContents()).toEqual(['North, upper', '7', 'null']);
    expect(await rows.nth(20).getByRole('cell').first().textContent()).toBe('Region 20');
    // The policy, in words; the owner (an Admin) still sees every row, as the sentence above says.
    const policies = page.getByRole('region', { name: 'Policies of Regional sales' });
    expect(await policies.getByRole('row').nth(1).getByRole('cell').allTextContents()).toEqual([
      'East and West this year',
      'user',
      gatehouse.adminEmail,
      'Region EQUALS East, West AND NOT (Day BETWEEN 2026-01-01, 2026-12-31)',
    ]);
    await page.getByText('On: besides the owner and Admins', { exact: false }).waitFor();
    await screenshot(page, 'dataset');
    await expectAccessible(page, 'DataSet');

    await page.getByRole('link', { name: 'All DataSets' }).click();
    await page.getByRole('link', { name: 'Empty targets' }).click();
    await page.getByText('No rows yet', { exact: false }).waitFor();
    await page.getByText('Off: everyone who may view data sees every row.').waitFor();
    await page.getByText('No policies.').waitFor();
  });

  it('creates, renames and deletes a group and adds and removes its members on the Users page', async () => {
    await open(page, 'Users');
    const groups = page.getByRole('region', { name: 'Groups' });
    await groups.getByText('No groups yet.').waitFor();
    await page.getByRole('button', { name: 'Create group' }).click();
    const create = page.getByRole('dialog', { name: 'Create group' });
    await create.getByLabel('Group name').fill('Analysts');
    await create.getByLabel('Description').fill('Read the sales data');
    await create.getByRole('button', { name: 'Create' }).click();
    await create.waitFor({ state: 'detached' });
    await page.getByText('Analysts was created.').waitFor();
    // The notice comes first; the list reloads after it.
    const analysts = row(groups, 'Analysts');
    await expect
      .poll(async () => (await analysts.getByRole('cell').allTextContents()).slice(0, 3))
      .toEqual(['Analysts', 'Read the sales data', '0']);

    await analysts.getByRole('button', { name: 'More' }).click();
    await page.getByRole('menuitem', { name: 'Members' }).click();
    const members = page.getByRole('dialog', { name: 'Members of Analysts' });
    await members.getByText('No members yet.').waitFor();
    await members.getByLabel('Add a member by email').fill('nobody@example.com');
    await members.getByRole('button', { name: 'Add member' }).click();
    await members.getByRole('alert').getByText('No user has the email nobody@example.com.').waitFor();
    await members.getByLabel('Add a member by email').fill(gatehouse.adminEmail);
    await members.getByRole('button', { name: 'Add member' }).click();
    await members.getByText(`${gatehouse.adminEmail} is a member of Analysts.`).waitFor();
    await row(members, gatehouse.adminEmail).waitFor();
    await expectAccessible(page, 'group members');
    await members.getByRole('button', { name: `Remove ${gatehouse.adminEmail}` }).click();
    await members.getByText('No members yet.').waitFor();
    await members.getByLabel('Add a member by email').fill(gatehouse.adminEmail);
    await members.getByRole('button', { name: 'Add member' }).click();
    await row(members, gatehouse.adminEmail).waitFor();
    await members.getByRole('button', { name: 'Done' }).click();
    await expect.poll(() => analysts.getByRole('cell').nth(2).textContent()).toBe('1');

    await analysts.getByRole('button', { name: 'More' }).click();
    await page.getByRole('menuitem', { name: 'Rename' }).click();
    const rename = page.getByRole('dialog', { name: 'Rename group Analysts' });
    await rename.getByLabel('Group name').fill('Analysts EMEA');
    await rename.getByRole('button', { name: 'Save' }).click();
    await page.getByText('The group is now Analysts EMEA.').waitFor();
    const renamed = row(groups, 'Analysts EMEA');
    await screenshot(page, 'users-groups');
    await expectAccessible(page, 'users and groups');

    await renamed.getByRole('button', { name: 'More' }).click();
    await page.getByRole('menuitem', { name: 'Delete' }).click();
    const confirm = page.getByRole('dialog', { name: 'Delete group Analysts EMEA?' });
    await confirm.getByText('Its one membership ends; the users stay.', { exact: false }).waitFor();
    await confirm.getByRole('button', { name: 'Delete' }).click();
    await page.getByText('Analysts EMEA was deleted.').waitFor();
    await groups.getByText('No groups yet.').waitFor();
  });

  it('passes axe in dark mode and fits 375 px', async () => {
    await page.emulateMedia({ colorScheme: 'dark' });
    await page.setViewportSize({ width: 375, height: 800 });
    for (const [link, heading] of [
      ['DataSets', 'DataSets'],
      ['Users', 'Users'],
    ] as const) {
      await page.getByRole('button', { name: 'Menu' }).click();
      await open(page, link, heading);
      await page.locator('table[aria-busy="false"]').first().waitFor();
      await expectAccessible(page, `${link} (dark, 375 px)`);
      expect(await page.evaluate('document.documentElement.scrollWidth'), link).toBeLessThanOrEqual(375);
    }
    await page.getByRole('button', { name: 'Menu' }).click();
    await open(page, 'DataSets');
    await page.getByRole('link', { name: 'Regional sales' }).click();
    await page.getByText('The first 20 of 25 rows, in import order.').waitFor();
    await expectAccessible(page, 'DataSet (dark, 375 px)');
    expect(await page.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(375);
    await screenshot(page, 'dataset-dark-375');
    // The browser logs failed answers: only the first GET /me, signed out (401).
    expect(consoleErrors.filter((e) => !/status of 401 /.test(e))).toEqual([]);
  });
});
