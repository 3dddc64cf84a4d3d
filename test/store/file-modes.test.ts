/**
 * Files Gatehouse writes are owner-only: the SQLite database (password hashes, secret HMACs,
 * sealed signing keys) and its -wal/-shm companions are created 0600 whatever the umask, an
 * existing world-readable one is restricted at open, and `serve` warns about a data directory
 * that others can enter.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { warnAboutOpenDataDir } from '../../src/cli/server.js';
import { testConfig } from '../helpers/services.js';
import { createLogger } from '../../src/logger.js';
import { openStore } from '../../src/store/index.js';

const dirs: string[] = [];
function scratchDir(mode: number): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-modes-'));
  fs.chmodSync(dir, mode);
  dirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

const modeOf = (file: string) => fs.statSync(file).mode & 0o777;

describe('file modes', () => {
  it('creates the database, -wal and -shm 0600 even in a 0755 directory under umask 022', async () => {
    const file = path.join(scratchDir(0o755), 'gatehouse.db');
    const previous = process.umask(0o022);
    try {
      const store = await openStore({ sqliteFile: file });
      await store.migrate();
      expect([modeOf(file), modeOf(`${file}-wal`), modeOf(`${file}-shm`)]).toEqual([0o600, 0o600, 0o600]);
      await store.close();
    } finally {
      process.umask(previous);
    }
  });

  it('takes group and world access away from an existing database at open', async () => {
    const file = path.join(scratchDir(0o700), 'gatehouse.db');
    const first = await openStore({ sqliteFile: file });
    await first.migrate();
    await first.close();
    fs.chmodSync(file, 0o644);
    const again = await openStore({ sqliteFile: file });
    expect(modeOf(file)).toBe(0o600);
    expect((await again.pendingMigrations()).length).toBe(0);
    await again.close();
  });

  it('serve warns when the data directory is open to others, and not when it is 0700', () => {
    let text = '';
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        text += chunk.toString('utf8');
        done();
      },
    });
    const log = createLogger('info', sink);
    warnAboutOpenDataDir(testConfig({ dataDir: scratchDir(0o700) }), log);
    expect(text).toBe('');
    const open = scratchDir(0o755);
    warnAboutOpenDataDir(testConfig({ dataDir: open }), log);
    expect(JSON.parse(text)).toMatchObject({
      level: 40,
      dataDir: open,
      mode: '0755',
      msg: 'the data directory is accessible to other users; restrict it with: chmod 700 <data dir>',
    });
  });
});
