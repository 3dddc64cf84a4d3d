/**
 * The README stays true: the Quick start is exactly the two commands, the grant
 * catalog, the system roles and the CLI overview match the code, and every JSON
 * example is accepted by the API. (The configuration table is checked against
 * `SETTINGS` in src/config.test.ts.)
 */
import fs from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../src/cli/index.js';
import { GRANTS, SYSTEM_ROLES } from '../src/services/grants.js';
import { createUser, signIn, testApp } from './helpers/app.js';
import { dialects } from './helpers/stores.js';

const README = fs.readFileSync(path.resolve(import.meta.dirname, '../README.md'), 'utf8');

/** The body of the section under `## title`. */
function section(title: string): string {
  const start = README.indexOf(`\n## ${title}\n`);
  expect(start, `README has a "## ${title}" section`).toBeGreaterThan(-1);
  const rest = README.slice(start + title.length + 5);
  const end = rest.indexOf('\n## ');
  return end === -1 ? rest : rest.slice(0, end);
}

/** Rows of the first table whose header row starts with `| first |`. */
function tableRows(text: string, first: string): string[][] {
  const lines = text.split('\n');
  const header = lines.findIndex((line) => line.startsWith(`| ${first} |`));
  expect(header, `a table headed "${first}"`).toBeGreaterThan(-1);
  const rows: string[][] = [];
  for (const line of lines.slice(header + 2)) {
    if (!line.startsWith('|')) break;
    rows.push(
      line
        .slice(1, -1)
        .split(/(?<!\\)\|/)
        .map((cell) => cell.trim()),
    );
  }
  return rows;
}

/** Every ```json block of the README, with the `## section` it stands in. */
function jsonExamples(): Array<{ section: string; json: unknown }> {
  const out: Array<{ section: string; json: unknown }> = [];
  for (const match of README.matchAll(/```json\n([\s\S]*?)```/g)) {
    const before = README.slice(0, match.index);
    const section = /\n## ([^\n]+)\n(?![\s\S]*\n## )/.exec(before)?.[1] ?? '';
    out.push({ section, json: JSON.parse(match[1]!) as unknown });
  }
  return out;
}

const isErrorAnswer = (json: unknown): json is Record<string, unknown> =>
  typeof json === 'object' && json !== null && typeof (json as { error?: unknown }).error === 'string';

/** Where each section's JSON examples (other than error answers) are sent, and the answer expected. */
const EXAMPLE_CALLS: Record<
  string,
  (json: unknown, n: number) => { url: string; payload: Record<string, unknown>; status: number }
> = {
  'Workflows API': (definition, n) => ({
    url: '/v1/workflows',
    payload: { name: `README example ${n}`, definition },
    status: 201,
  }),
};

for (const dialect of dialects()) {
  describe.skipIf(dialect.skip)(`README JSON examples work against the API (${dialect.name})`, () => {
    it('posts every ```json block to the API it documents and gets a success', async () => {
      const examples = jsonExamples();
      expect(examples.length).toBeGreaterThan(0);
      const ts = await dialect.open();
      const { app, services } = await testApp(ts.store);
      try {
        await createUser(services, 'readme@example.com', 'Admin');
        const session = await signIn(app, 'readme@example.com');
        const created = await app.inject({
          method: 'POST',
          url: '/api/admin/v1/access-tokens',
          headers: session.headers,
          payload: { description: 'README examples', expiresInDays: 1 },
        });
        expect(created.statusCode, created.body).toBe(201);
        const authorization = `Bearer ${(created.json() as { token: string }).token}`;
        for (const [n, example] of examples.entries()) {
          // An error answer shown as an example is not a request: it has the one error shape.
          if (isErrorAnswer(example.json)) {
            expect(
              Object.keys(example.json).every((key) => ['error', 'message', 'details'].includes(key)),
            ).toBe(true);
            continue;
          }
          const call = EXAMPLE_CALLS[example.section];
          expect(call, `a JSON example in "${example.section}" has a known API to post to`).toBeDefined();
          const { url, payload, status } = call!(example.json, n);
          const res = await app.inject({ method: 'POST', url, headers: { authorization }, payload });
          expect(res.statusCode, `README example ${n} (${example.section}): ${res.body}`).toBe(status);
        }
      } finally {
        await app.close();
        await ts.dispose();
      }
    });
  });
}

describe('README', () => {
  it('has a Quick start with exactly `npm ci && npm start` and `npm test`', () => {
    const block = /```sh\n([\s\S]*?)```/.exec(section('Quick start'))?.[1] ?? '';
    const commands = block
      .split('\n')
      .map((line) => line.replace(/#.*$/, '').trim())
      .filter((line) => line !== '');
    expect(commands).toEqual(['npm ci && npm start', 'npm test']);
  });

  it('lists the grant catalog as the code has it', () => {
    const rows = tableRows(section('Users, roles and grants'), 'grant');
    expect(rows).toEqual(GRANTS.map((g) => [`\`${g.id}\``, g.name, g.description]));
  });

  it('lists the system roles with their grant sets', () => {
    const rows = tableRows(section('Users, roles and grants'), 'system role');
    expect(rows).toEqual(
      SYSTEM_ROLES.map((r) => [
        r.name,
        r.description,
        r.grants.length === GRANTS.length
          ? 'every grant'
          : r.grants.length === 0
            ? 'none'
            : r.grants.map((g) => `\`${g}\``).join(', '),
      ]),
    );
  });

  it('names every command group of the CLI in its overview', () => {
    const program = buildProgram({
      env: {},
      stdin: new PassThrough(),
      stdout: new PassThrough(),
      stderr: new PassThrough(),
      cwd: '/',
    });
    const overview = tableRows(section('CLI'), 'command')
      .map((row) => row[0])
      .join(' ');
    for (const command of program.commands) expect(overview, command.name()).toContain(`\`${command.name()}`);
  });

  it('says why each runtime dependency is there', () => {
    const pkg = JSON.parse(fs.readFileSync(path.resolve(import.meta.dirname, '../package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
    };
    const named = tableRows(section('Dependencies and why'), 'package')
      .map((row) => row[0])
      .join(' ');
    for (const dependency of Object.keys(pkg.dependencies))
      expect(named, dependency).toContain(`\`${dependency}\``);
  });
});
