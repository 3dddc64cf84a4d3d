/**
 * Several processes writing to one SQLite file at once (cluster workers, the CLI next
 * to the server): every transaction waits its turn for the write lock and none fails
 * with "database is locked". Runs the built store and services (`npm run build`).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore, type Store } from '../../src/store/index.js';
import { runNode } from '../helpers/cli.js';

const DIST = path.resolve(import.meta.dirname, '../../dist');
const PROCESSES = 3;
const USERS_EACH = 40;

/** One writer process: USERS_EACH users through the users service (a read, then writes, per transaction). */
const WRITER = `
const [{ openStore }, { createServices }, { SecretKeyring }, { ManualClock }, { loadConfig }, { silentLogger }, { OPERATOR }] = await Promise.all([
  import('${DIST}/store/index.js'),
  import('${DIST}/services/index.js'),
  import('${DIST}/crypto.js'),
  import('${DIST}/clock.js'),
  import('${DIST}/config.js'),
  import('${DIST}/logger.js'),
  import('${DIST}/services/principal.js'),
]);
const store = await openStore({ sqliteFile: process.argv[1] });
const services = createServices({
  store,
  config: loadConfig({}),
  clock: new ManualClock('2026-03-01T12:00:00.000Z'),
  keyring: new SecretKeyring(Buffer.alloc(32, 1)),
  log: silentLogger(),
});
const failures = [];
for (let i = 0; i < ${USERS_EACH}; i++) {
  try {
    await services.users.create({ email: 'p' + process.argv[2] + '-' + i + '@example.com', role: 'Editor' }, OPERATOR, { type: 'cli' });
  } catch (error) {
    failures.push(String(error));
  }
}
await store.close();
process.stdout.write(JSON.stringify(failures));
`;

async function runWriter(
  file: string,
  n: number,
): Promise<{ code: number | null; failures: string[]; stderr: string }> {
  const { code, stdout, stderr } = await runNode(['--input-type=module', '-e', WRITER, file, String(n)]);
  return { code, stderr, failures: stdout === '' ? ['no output'] : (JSON.parse(stdout) as string[]) };
}

describe('SQLite shared by several processes', { timeout: 120_000 }, () => {
  let dir: string;
  let file: string;
  let store: Store;

  beforeAll(async () => {
    if (!fs.existsSync(path.join(DIST, 'store/index.js')))
      throw new Error('dist/ is missing: run `npm run build` first');
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-sqlite-procs-'));
    file = path.join(dir, 'gatehouse.db');
    store = await openStore({ sqliteFile: file });
    await store.migrate();
  });
  afterAll(async () => {
    await store?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('lets concurrent writers take turns: every transaction commits, none is refused as locked', async () => {
    // System roles are created once, as `serve` does before its workers start.
    await runWriterSetup(file);
    const results = await Promise.all(Array.from({ length: PROCESSES }, (_, n) => runWriter(file, n)));
    expect(results.map((r) => ({ code: r.code, failures: r.failures, stderr: r.stderr }))).toEqual(
      Array.from({ length: PROCESSES }, () => ({ code: 0, failures: [], stderr: '' })),
    );
    const count = async (table: 'users' | 'audit_events') =>
      Number(
        (
          await store.db
            .selectFrom(table)
            .select((eb) => eb.fn.countAll<number>().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      );
    expect(await count('users')).toBe(PROCESSES * USERS_EACH);
    expect(await count('audit_events')).toBe(PROCESSES * USERS_EACH);
  });
});

/** Creates the system roles in the file, in a process of its own. */
async function runWriterSetup(file: string): Promise<void> {
  const code = `
const { openStore } = await import('${DIST}/store/index.js');
const { createServices } = await import('${DIST}/services/index.js');
const { SecretKeyring } = await import('${DIST}/crypto.js');
const { systemClock } = await import('${DIST}/clock.js');
const { loadConfig } = await import('${DIST}/config.js');
const { silentLogger } = await import('${DIST}/logger.js');
const store = await openStore({ sqliteFile: process.argv[1] });
await createServices({ store, config: loadConfig({}), clock: systemClock, keyring: new SecretKeyring(Buffer.alloc(32, 1)), log: silentLogger() }).roles.syncSystemRoles();
await store.close();
`;
  const result = await runNode(['--input-type=module', '-e', code, file]);
  expect(result).toEqual({ code: 0, stdout: '', stderr: '' });
}
