/**
 * The SQLite copy behind `gatehouse backup`/`restore`: stepwise with progress, restarted (and its
 * step doubled) when another connection writes between steps so it always finishes with a
 * consistent snapshot, and the "is another connection using this file" test.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type CopyProgress, copySqliteDatabase, createTempBeside, sqliteFileInUse } from './sqlite-backup.js';

describe('copySqliteDatabase', () => {
  let dir: string;
  let source: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-sqlite-copy-'));
    source = path.join(dir, 'source.db');
    const db = new Database(source);
    db.pragma('journal_mode = WAL');
    db.exec('create table t (id integer primary key, body text not null)');
    const insert = db.prepare('insert into t (body) values (?)');
    // About 3,000 pages of 4 KiB: three steps of 1,024 pages.
    db.transaction(() => {
      for (let i = 0; i < 3000; i++) insert.run('x'.repeat(3900));
    })();
    db.close();
  });
  afterEach(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('copies in steps, reporting progress, into a self-contained checked file that keeps its mode', async () => {
    const target = createTempBeside(path.join(dir, 'copy.db'));
    const seen: CopyProgress[] = [];
    const { pages } = await copySqliteDatabase(source, target, (p) => seen.push({ ...p }));
    expect(seen.length).toBeGreaterThanOrEqual(3);
    expect(seen.map((p) => p.remainingPages)).toEqual(
      [...seen.map((p) => p.remainingPages)].sort((a, b) => b - a),
    );
    expect(seen.at(-1)!.totalPages).toBe(pages);
    expect(fs.statSync(target).mode & 0o777).toBe(0o600);
    const copy = new Database(target, { readonly: true });
    expect(copy.prepare('select count(*) as n from t').get()).toEqual({ n: 3000 });
    expect(copy.pragma('journal_mode', { simple: true })).toBe('delete');
    copy.close();
    expect(fs.existsSync(`${target}-wal`)).toBe(false);
  });

  it('restarts when another connection writes between steps, doubling the step, and copies a consistent snapshot', async () => {
    const writer = new Database(source);
    const target = createTempBeside(path.join(dir, 'copy.db'));
    let writes = 0;
    const seen: CopyProgress[] = [];
    try {
      await copySqliteDatabase(source, target, (p) => {
        seen.push({ ...p });
        // A write between every step (a busy server): each one restarts the copy. The cap only
        // keeps a broken copy from looping for ever; the doubling step must finish well before it.
        if (writes < 50) writer.prepare('insert into t (body) values (?)').run(`write ${++writes}`);
      });
    } finally {
      writer.close();
    }
    // Restarted (the remaining count did not go down), and still finished while the writes went on.
    expect(seen.some((p, i) => i > 0 && p.remainingPages >= seen[i - 1]!.remainingPages)).toBe(true);
    expect(writes).toBeLessThan(10);
    const copy = new Database(target, { readonly: true });
    expect(copy.prepare('select count(*) as n from t').get()).toEqual({ n: 3000 + writes });
    expect(copy.pragma('quick_check', { simple: true })).toBe('ok');
    copy.close();
  });
});

describe('sqliteFileInUse', () => {
  it('is true while another connection has the database open in WAL mode, false after (and folds the WAL in)', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-in-use-'));
    const file = path.join(dir, 'gatehouse.db');
    try {
      const server = new Database(file);
      server.pragma('journal_mode = WAL');
      server.exec('create table t (x)');
      server.prepare('insert into t values (1)').run();
      expect(sqliteFileInUse(file)).toBe(true);
      server.close();
      expect(sqliteFileInUse(file)).toBe(false);
      expect(fs.readdirSync(dir)).toEqual(['gatehouse.db']);
      const check = new Database(file, { readonly: true });
      expect(check.prepare('select count(*) as n from t').get()).toEqual({ n: 1 });
      check.close();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
