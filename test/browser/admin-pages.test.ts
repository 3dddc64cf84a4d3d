/**
 * The Roles, Users, Workflows, Audit log and Signing keys pages in Chromium (issue #13's browser
 * tests 3 and 5, and axe-core scans of these pages): one `gatehouse serve`, the bootstrap admin
 * signed in once, and a second browser context for the user made in test 3.
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
  signInThroughForm,
  startGatehouse,
} from '../helpers/browser.js';

const BUILDER_PASSWORD = 'amber-quarry-sailcloth-71';

describeBrowser(
  'admin UI: roles, users, workflows, audit log, signing keys',
  { timeout: BROWSER_TEST_TIMEOUT },
  () => {
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
      await signInAsNewAdmin(page, gatehouse);
    }, BROWSER_TEST_TIMEOUT);
    afterAll(async () => {
      await browser?.close();
      await gatehouse?.stop();
    });

    const open = async (p: Page, link: string, heading = link) => {
      await p
        .getByRole('navigation', { name: 'Admin' })
        .getByRole('link', { name: link, exact: true })
        .click();
      await p.getByRole('heading', { level: 1, name: heading }).waitFor();
    };
    const row = (p: Page, text: string) =>
      p.getByRole('row').filter({ has: p.getByText(text, { exact: true }) });

    /** Creates a user on the Users page with a role; returns the temporary password shown once. */
    const createUser = async (email: string, role: string): Promise<string> => {
      await open(page, 'Users');
      await page.getByRole('button', { name: 'Create user' }).click();
      const dialog = page.getByRole('dialog', { name: 'Create user' });
      await dialog.getByLabel('Email').fill(email);
      await dialog.getByLabel('Role').selectOption({ label: role });
      await dialog.getByRole('button', { name: 'Create' }).click();
      const shown = page.getByRole('dialog', { name: `User ${email} created` });
      const temporary = await shown.getByLabel('Temporary password').inputValue();
      await shown.getByRole('button', { name: 'Done' }).click();
      return temporary;
    };

    /** A new browser context signed in as a user with a temporary password, which it replaces. */
    const firstSignIn = async (
      email: string,
      temporary: string,
    ): Promise<{ context: BrowserContext; page: Page }> => {
      const theirs = await newContext(browser, gatehouse.url);
      const p = await theirs.newPage();
      await p.goto('/admin/');
      await signInThroughForm(p, email, temporary);
      await p.getByRole('heading', { name: 'Choose a new password' }).waitFor();
      await p.getByLabel('Current password').fill(temporary);
      await p.getByLabel('New password', { exact: true }).fill(BUILDER_PASSWORD);
      await p.getByLabel('Repeat the new password').fill(BUILDER_PASSWORD);
      await p.getByRole('button', { name: 'Change password' }).click();
      await p.getByRole('navigation', { name: 'Admin' }).waitFor();
      return { context: theirs, page: p };
    };

    it('(3) copies Privileged without api.clients.create, gives it to a new user, who gets no Create button and a 403 from the API', async () => {
      await open(page, 'Roles');
      await row(page, 'Privileged').getByRole('button', { name: 'Copy' }).click();
      const copy = page.getByRole('dialog', { name: 'Copy role Privileged' });
      await copy.getByLabel('Name of the copy').fill('Builders');
      await copy.getByRole('button', { name: 'Copy', exact: true }).click();
      // Straight on to the copy's grants: one check-box per grant, named by the grant.
      const edit = page.getByRole('dialog', { name: 'Edit role Builders' });
      const create = edit.getByRole('checkbox', { name: 'Create API OAuth Clients' });
      expect(await create.isChecked()).toBe(true);
      expect(await edit.getByRole('checkbox', { name: 'Manage Users' }).isChecked()).toBe(false);
      await expectAccessible(page, 'role editor');
      await create.uncheck();
      await edit.getByRole('button', { name: 'Save' }).click();
      await edit.waitFor({ state: 'detached' });
      await expect.poll(() => row(page, 'Builders').textContent()).toContain('6 of 10');
      await screenshot(page, 'roles-custom-role');
      await expectAccessible(page, 'roles');

      await open(page, 'Users');
      await page.getByRole('button', { name: 'Create user' }).click();
      const dialog = page.getByRole('dialog', { name: 'Create user' });
      await dialog.getByLabel('Email').fill('builder@example.com');
      await dialog.getByLabel('Display name').fill('Bea Builder');
      await dialog.getByLabel('Role').selectOption({ label: 'Builders' });
      await dialog.getByRole('button', { name: 'Create' }).click();
      const shown = page.getByRole('dialog', { name: 'User builder@example.com created' });
      const temporary = await shown.getByLabel('Temporary password').inputValue();
      expect(temporary.length).toBeGreaterThanOrEqual(12);
      await expectAccessible(page, 'temporary password dialog');
      await shown.getByRole('button', { name: 'Done' }).click();
      await expect.poll(() => row(page, 'builder@example.com').textContent()).toContain('Builders');
      // The role's users: the new user is listed under Builders.
      await open(page, 'Roles');
      await row(page, 'Builders').getByRole('button', { name: '1 user' }).click();
      const holders = page.getByRole('dialog', { name: 'Users with role Builders' });
      await holders.getByText('builder@example.com').waitFor();
      await holders.getByRole('button', { name: 'Close' }).first().click();

      // The new user, in a browser of their own: the temporary password, then their own.
      const theirs = await newContext(browser, gatehouse.url);
      const bea = await theirs.newPage();
      await bea.goto('/admin/');
      await signInThroughForm(bea, 'builder@example.com', temporary);
      await bea.getByRole('heading', { name: 'Choose a new password' }).waitFor();
      await bea.getByLabel('Current password').fill(temporary);
      await bea.getByLabel('New password', { exact: true }).fill(BUILDER_PASSWORD);
      await bea.getByLabel('Repeat the new password').fill(BUILDER_PASSWORD);
      await bea.getByRole('button', { name: 'Change password' }).click();
      const nav = bea.getByRole('navigation', { name: 'Admin' });
      await nav.waitFor();
      // No API Clients page (the role holds neither clients grant), so no Create button anywhere for clients;
      // a deep link to it finds nothing to show, and the pages the role allows are there.
      expect(await nav.getByRole('link', { name: 'API Clients' }).count()).toBe(0);
      expect(await nav.getByRole('link', { name: 'Users' }).count()).toBe(0);
      await nav.getByRole('link', { name: 'Workflows' }).waitFor();
      await bea.goto('/admin/clients');
      await bea.getByRole('heading', { level: 1, name: 'Not found' }).waitFor();
      expect(await bea.getByRole('button', { name: 'Create' }).count()).toBe(0);
      await screenshot(bea, 'builder-no-clients');

      // The server says the same when asked directly with that session (and its CSRF token).
      const me = await theirs.request.get('/api/admin/v1/me');
      expect(me.status()).toBe(200);
      const { csrfToken, grants } = (await me.json()) as { csrfToken: string; grants: string[] };
      expect(grants).not.toContain('api.clients.create');
      const refused = await theirs.request.post('/api/admin/v1/clients', {
        headers: { 'x-csrf-token': csrfToken },
        data: { name: 'Sneaky', scopes: ['data'] },
      });
      expect(refused.status()).toBe(403);
      expect(await refused.json()).toEqual({
        error: 'forbidden',
        message: 'This action needs the grant "api.clients.create".',
        details: { grant: 'api.clients.create' },
      });
      // Nor may they read the users.
      const users = await theirs.request.get('/api/admin/v1/users');
      expect(users.status()).toBe(403);
      await theirs.close();
    });

    it('shows the no-escalation refusal in words to a role manager who lacks the role’s grants', async () => {
      await open(page, 'Roles');
      await page.getByRole('button', { name: 'New role' }).click();
      const create = page.getByRole('dialog', { name: 'New role' });
      await create.getByLabel('Name').fill('Role keepers');
      await create.getByRole('checkbox', { name: 'Manage Roles' }).check();
      await create.getByRole('button', { name: 'Create role' }).click();
      await create.waitFor({ state: 'detached' });
      const temporary = await createUser('keeper@example.com', 'Role keepers');
      const keeper = await firstSignIn('keeper@example.com', temporary);
      await open(keeper.page, 'Roles');
      await row(keeper.page, 'Builders').getByRole('button', { name: 'Edit' }).click();
      const edit = keeper.page.getByRole('dialog', { name: 'Edit role Builders' });
      await edit.getByRole('checkbox', { name: 'Manage Users' }).check();
      await edit.getByRole('button', { name: 'Save' }).click();
      await expect
        .poll(() => edit.getByRole('alert').textContent())
        .toBe(
          'You cannot change the role "Builders": it holds the grant "access_tokens.create" (Create Access Tokens), which you do not hold (and 5 more grants you do not hold).',
        );
      await screenshot(keeper.page, 'roles-escalation-denied');
      await expectAccessible(keeper.page, 'role editor with a refusal');
      await keeper.context.close();
    });

    it('(5) a workflow with a validation error shown at its path, fixed, run to COMPLETED with its logs', async () => {
      await open(page, 'Workflows');
      await expectAccessible(page, 'workflows (empty)');
      await page.getByRole('button', { name: 'Create workflow' }).click();
      await page.getByRole('heading', { level: 1, name: 'Workflow' }).waitFor();
      await page.getByLabel('Name').fill('Double it');
      const editor = page.getByLabel('Definition (JSON)');
      const broken = [
        '{',
        '  "input": { "type": "object", "properties": { "n": { "type": "integer" } } },',
        '  "steps": [',
        '    { "id": "double", "type": "set", "values": { "doubled": "input.n * 2" } },',
        '    { "id": "say", "type": "shout", "message": "doubled to {{vars.doubled}}" }',
        '  ]',
        '}',
      ].join('\n');
      await editor.fill(broken);
      await page.getByRole('button', { name: 'Create workflow' }).click();
      const alert = page.getByRole('alert');
      await expect.poll(() => alert.textContent()).toContain('definition.steps[1].type');
      const message = (await alert.textContent()) ?? '';
      expect(message).toMatch(/^Line 5 definition\.steps\[1\]\.type: /);
      expect(message).toContain('must be one of http, delay, set, if, log, fail');
      expect(await editor.getAttribute('aria-invalid')).toBe('true');
      expect(await page.locator('.json-line-bad').textContent()).toBe('5');
      await screenshot(page, 'workflow-validation-error');
      await expectAccessible(page, 'workflow editor with an error');

      await editor.fill(broken.replace('"shout"', '"log"'));
      await page.getByRole('button', { name: 'Create workflow' }).click();
      await page.getByRole('button', { name: 'Save new version' }).waitFor();
      expect(new URL(page.url()).pathname).toMatch(/^\/admin\/workflows\/[0-9a-f-]{36}$/);
      expect(await page.getByRole('alert').count()).toBe(0);

      await page.getByLabel('Input (JSON)').fill('{ "n": 21 }');
      await page.getByRole('button', { name: 'Run', exact: true }).click();
      await page.getByRole('heading', { level: 1, name: 'Workflow run' }).waitFor();
      await expect
        .poll(() => page.locator('.run-status').textContent(), { timeout: 30_000 })
        .toBe('COMPLETED');
      await expect.poll(() => page.getByText('The run has ended (COMPLETED).').count()).toBe(1);
      const logs = page.getByRole('region', { name: 'Step logs' });
      await logs.getByText('doubled to 42').waitFor();
      expect(await logs.getByRole('row').count()).toBe(3);
      expect(await page.getByRole('button', { name: 'Cancel run' }).count()).toBe(0);
      await screenshot(page, 'workflow-run-completed');
      await expectAccessible(page, 'workflow run');

      // Back on the workflow: the run is listed with its status.
      await page.getByRole('link', { name: 'Workflow Double it' }).click();
      await page.getByRole('heading', { name: 'Runs' }).waitFor();
      await expect
        .poll(() => page.getByRole('region', { name: 'Runs of Double it' }).textContent())
        .toContain('COMPLETED');
      await expectAccessible(page, 'workflow');
    });

    it('a running workflow refreshes while it goes, and Cancel run ends it', async () => {
      await open(page, 'Workflows');
      await page.getByRole('button', { name: 'Create workflow' }).click();
      await page.getByLabel('Name').fill('Wait a minute');
      await page.getByLabel('Definition (JSON)').fill(
        JSON.stringify(
          {
            steps: [
              { id: 'first', type: 'log', message: 'started' },
              { id: 'wait', type: 'delay', seconds: 60 },
              { id: 'after', type: 'log', message: 'never' },
            ],
          },
          null,
          2,
        ),
      );
      await page.getByRole('button', { name: 'Create workflow' }).click();
      await page.getByRole('button', { name: 'Run', exact: true }).click();
      await page.getByRole('heading', { level: 1, name: 'Workflow run' }).waitFor();
      // The first step's log line arrives by the page's own re-reading, while it says it is refreshing.
      await page.getByRole('region', { name: 'Step logs' }).getByText('started').waitFor();
      await expect.poll(() => page.getByText(/^Refreshing every second/).count()).toBe(1);
      expect(await page.locator('.run-status').textContent()).toBe('IN_PROGRESS');
      await page.getByRole('button', { name: 'Cancel run' }).click();
      const confirm = page.getByRole('dialog', { name: 'Cancel this run?' });
      await confirm.getByRole('button', { name: 'Cancel run' }).click();
      await expect.poll(() => page.locator('.run-status').textContent()).toBe('CANCELED');
      await page.getByText('The run has ended (CANCELED).').waitFor();
      expect(await page.getByRole('button', { name: 'Cancel run' }).count()).toBe(0);
      expect(await page.getByRole('region', { name: 'Step logs' }).getByText('never').count()).toBe(0);
    });

    it('changes a user’s role, disables and enables them, and resets their password', async () => {
      await open(page, 'Users');
      await page.getByLabel('Search by email or name').fill('builder');
      await expect.poll(() => page.getByRole('region', { name: 'Users' }).getByRole('row').count()).toBe(2);
      const more = () => row(page, 'builder@example.com').getByRole('button', { name: 'More' });
      const cells = () => row(page, 'builder@example.com').textContent();

      await more().click();
      await expectAccessible(page, 'users with a row menu open');
      await page.getByRole('menuitem', { name: 'Change role' }).click();
      const change = page.getByRole('dialog', { name: 'Change the role of builder@example.com' });
      await change.getByLabel('Role').selectOption({ label: 'Editor' });
      await change.getByRole('button', { name: 'Change role' }).click();
      await expect.poll(cells).toContain('Editor');

      await more().click();
      await page.getByRole('menuitem', { name: 'Disable' }).click();
      await page
        .getByRole('dialog', { name: 'Disable builder@example.com?' })
        .getByRole('button', { name: 'Disable' })
        .click();
      await expect.poll(cells).toContain('disabled');
      await more().click();
      await page.getByRole('menuitem', { name: 'Enable' }).click();
      await expect.poll(cells).toContain('active');

      await more().click();
      await page.getByRole('menuitem', { name: 'Reset password' }).click();
      await page
        .getByRole('dialog', { name: 'Reset the password of builder@example.com?' })
        .getByRole('button', { name: 'Reset password' })
        .click();
      const shown = page.getByRole('dialog', { name: 'New password for builder@example.com' });
      expect((await shown.getByLabel('Temporary password').inputValue()).length).toBeGreaterThanOrEqual(12);
      await screenshot(page, 'users-password-reset');
      await shown.getByRole('button', { name: 'Done' }).click();
      await shown.waitFor({ state: 'detached' });
    });

    it('filters the audit log by actor and action, with cursor paging', async () => {
      await open(page, 'Audit log');
      await page.getByLabel('Actor').fill(gatehouse.adminEmail);
      await page.getByLabel('Action').fill('role.*');
      await page.getByRole('button', { name: 'Apply filters' }).click();
      const events = page.getByRole('region', { name: 'Audit events' });
      const actions = () => events.locator('td[data-label="Action"]').allTextContents();
      // Until the filtered page has come back, the table may still show the unfiltered one (or,
      // between the two, none: `every` of no rows is true).
      await expect
        .poll(async () => {
          const shown = await actions();
          return shown.length > 0 && shown.every((a) => a.startsWith('role.'));
        })
        .toBe(true);
      expect(await actions()).toEqual(expect.arrayContaining(['role.created', 'role.copied']));
      expect(
        (await events.locator('td[data-label="Actor"]').allTextContents()).every(
          (a) => a === gatehouse.adminEmail,
        ),
      ).toBe(true);
      await expect.poll(() => page.getByRole('button', { name: 'Previous' }).isDisabled()).toBe(true);
      await screenshot(page, 'audit-log');
      await expectAccessible(page, 'audit log');
    });

    it('lists the signing keys and rotates with confirmation', async () => {
      await open(page, 'Signing keys');
      const keys = page.getByRole('region', { name: 'Signing keys' });
      await expect.poll(() => keys.locator('td[data-label="Status"]').allTextContents()).toEqual(['active']);
      await page.getByRole('button', { name: 'Rotate signing key' }).click();
      const confirm = page.getByRole('dialog', { name: 'Rotate the signing key?' });
      await expectAccessible(page, 'rotate confirmation');
      await confirm.getByRole('button', { name: 'Rotate' }).click();
      await confirm.waitFor({ state: 'detached' });
      await expect
        .poll(() => keys.locator('td[data-label="Status"]').allTextContents())
        .toEqual(['active', 'published']);
      await expect.poll(() => page.locator('output.notice').textContent()).toMatch(/^New active key /);
      await screenshot(page, 'signing-keys');
      await expectAccessible(page, 'signing keys');
    });

    it('every page passes axe in dark mode too, and fits 375 px', async () => {
      await page.emulateMedia({ colorScheme: 'dark' });
      await page.setViewportSize({ width: 375, height: 800 });
      for (const [link, heading] of [
        ['Users', 'Users'],
        ['Roles', 'Roles'],
        ['Workflows', 'Workflows'],
        ['Audit log', 'Audit log'],
        ['Signing keys', 'Signing keys'],
      ] as const) {
        await page.getByRole('button', { name: 'Menu' }).click();
        await open(page, link, heading);
        await page.locator('table[aria-busy="false"]').first().waitFor();
        await expectAccessible(page, `${link} (dark, 375 px)`);
        expect(await page.evaluate('document.documentElement.scrollWidth'), link).toBeLessThanOrEqual(375);
        // The page starts right under the header, not below an empty band where the navigation folded away.
        expect((await page.getByRole('heading', { level: 1 }).boundingBox())?.y, link).toBeLessThan(200);
      }
      await screenshot(page, 'signing-keys-dark-375');
      // The browser logs failed answers: the first GET /me signed out (401) and the workflow's validation error (400).
      expect(consoleErrors.filter((e) => !/status of 40[01] /.test(e))).toEqual([]);
    });
  },
);
