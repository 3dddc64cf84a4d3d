/**
 * Another process holding SQLite's write lock (here: a second connection to the file, in this
 * process), as the HTTP client sees it: a request that must write waits for the lock and then
 * succeeds; past the store's lock wait it is a 503 with Retry-After in each endpoint's error shape
 * (never a 500), and nothing was written.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore, type Store } from '../../src/store/index.js';
import { createUser, TEST_PASSWORD } from '../helpers/app.js';
import { basic, type OAuthFixture, oauthFixture } from '../helpers/oauth.js';

describe('SQLite write lock held by another process', () => {
  let dir: string;
  let store: Store;
  let impatientStore: Store;
  let other: SqliteDatabase.Database;
  /** The app over a store with the default lock wait (5 s), and one over a store that waits 100 ms. */
  let f: OAuthFixture;
  let impatient: OAuthFixture;
  let client: { id: string; secret: string };

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-busy-'));
    const file = path.join(dir, 'gatehouse.db');
    store = await openStore({ sqliteFile: file });
    await store.migrate();
    f = await oauthFixture(store);
    impatientStore = await openStore({ sqliteFile: file, sqliteLockWaitMs: 100 });
    impatient = await oauthFixture(impatientStore);
    await createUser(f.services, 'ops@example.com', 'Admin');
    client = await f.createClient();
    other = new SqliteDatabase(file);
  });
  afterAll(async () => {
    other?.close();
    await f?.close();
    await impatient?.close();
    await impatientStore?.close();
    await store?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** A token request; a wrong secret is counted (a write), a right one with clean counters only reads. */
  const token = (on: OAuthFixture, secret = 'wrong secret') =>
    on.app.inject({
      method: 'POST',
      url: '/oauth2/token',
      headers: { authorization: basic(client.id, secret) },
      payload: { grant_type: 'client_credentials' },
    });
  const signIn = (on: OAuthFixture) =>
    on.app.inject({
      method: 'POST',
      url: '/api/admin/v1/session',
      payload: { email: 'ops@example.com', password: TEST_PASSWORD },
    });
  const counters = async () =>
    Number(
      (
        await store.db
          .selectFrom('throttle_counters')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    );

  it('held past the lock wait: 503 with Retry-After, in the OAuth and the admin shape, nothing written', async () => {
    const before = await counters();
    other.exec('begin immediate');
    try {
      const [tokenResponse, signInResponse] = [await token(impatient), await signIn(impatient)];
      expect(tokenResponse.statusCode).toBe(503);
      expect(tokenResponse.headers['retry-after']).toBe('1');
      expect(tokenResponse.headers['cache-control']).toBe('no-store');
      expect(tokenResponse.json()).toEqual({
        error: 'temporarily_unavailable',
        error_description: 'The database is busy with other writes; nothing was changed. Try again shortly.',
      });
      expect(signInResponse.statusCode).toBe(503);
      expect(signInResponse.headers['retry-after']).toBe('1');
      expect(signInResponse.json()).toEqual({
        error: 'unavailable',
        message: 'The database is busy with other writes; nothing was changed. Try again shortly.',
      });
      // Reads wait for no writer (WAL): a right secret, which only reads the counters, gets its token.
      expect((await token(impatient, client.secret)).statusCode).toBe(200);
    } finally {
      other.exec('rollback');
    }
    expect(await counters()).toBe(before);
  });

  it('released within the lock wait: the request waits for it and is answered (a wrong secret: 401, counted)', async () => {
    const before = await counters();
    other.exec('begin immediate');
    // Committed on a timer of this process: it fires only because the waiting request does not
    // block the event loop.
    const release = setTimeout(() => other.exec('commit'), 50);
    try {
      const response = await token(f);
      expect(response.statusCode).toBe(401);
      expect(response.json()).toMatchObject({ error: 'invalid_client' });
      expect(other.inTransaction).toBe(false);
    } finally {
      clearTimeout(release);
      if (other.inTransaction) other.exec('rollback');
    }
    expect(await counters()).toBeGreaterThan(before);
  });
});
