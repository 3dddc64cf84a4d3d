#!/usr/bin/env node
/**
 * Several processes writing one SQLite file through the store, as a cluster's workers do: each
 * runs 4 loops of transactions (a read, a turn of the event loop, a write) for a while, and a 5 ms
 * interval timer measures how long its event loop went without turning. Reports per process the
 * commits, the errors by code, the longest gap and the gaps over 100 ms: with a blocking lock wait
 * (busy_timeout) the gaps are the lock waits; with the store's asynchronous wait
 * (src/store/sqlite-lock.ts) they are only the machine's scheduling.
 *
 *   node bench/sqlite-lock-wait.mjs [processes=3] [seconds=5] [dist dir]   # another build's dist/ compares
 *
 * Uses the build in dist/ (run `npm run build` first).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const [mode, ...args] = process.argv.slice(2);

if (mode === '--writer') {
  const [dist, file, durationMs] = args;
  const { openStore } = await import(path.join(dist, 'store/index.js'));
  const store = await openStore({ sqliteFile: file });
  let last = performance.now();
  let longestGap = 0;
  let gapsOver100 = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    longestGap = Math.max(longestGap, now - last);
    if (now - last > 100) gapsOver100++;
    last = now;
  }, 5);
  const end = performance.now() + Number(durationMs);
  let commits = 0;
  const errors = {};
  const loop = async () => {
    while (performance.now() < end) {
      try {
        await store.transaction(async (tx) => {
          const row = await tx
            .selectFrom('throttle_counters')
            .select((eb) => eb.fn.countAll().as('n'))
            .executeTakeFirstOrThrow();
          await new Promise((resolve) => setImmediate(resolve));
          await tx
            .insertInto('throttle_counters')
            .values({ key: `bench:${process.pid}:${commits}:${row.n}`, count: 1, window_ends_at: 0 })
            .execute();
        });
        commits++;
      } catch (error) {
        const code = error.code ?? error.constructor.name;
        errors[code] = (errors[code] ?? 0) + 1;
      }
    }
  };
  await Promise.all([loop(), loop(), loop(), loop()]);
  clearInterval(timer);
  await store.close();
  process.stdout.write(
    `${JSON.stringify({ commits, errors, longestGapMs: Math.round(longestGap), gapsOver100 })}\n`,
  );
} else {
  const processes = Number(mode ?? 3);
  const seconds = Number(args[0] ?? 5);
  const dist = path.resolve(args[1] ?? path.join(import.meta.dirname, '../dist'));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-lock-bench-'));
  const file = path.join(dir, 'gatehouse.db');
  const { openStore } = await import(path.join(dist, 'store/index.js'));
  const setup = await openStore({ sqliteFile: file });
  await setup.migrate();
  await setup.close();
  const results = await Promise.all(
    Array.from(
      { length: processes },
      () =>
        new Promise((resolve, reject) => {
          const child = spawn(
            process.execPath,
            [import.meta.filename, '--writer', dist, file, String(seconds * 1000)],
            { stdio: ['ignore', 'pipe', 'inherit'] },
          );
          let out = '';
          child.stdout.on('data', (chunk) => {
            out += chunk;
          });
          child.on('exit', (code) =>
            code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`writer exited with ${code}`)),
          );
        }),
    ),
  );
  fs.rmSync(dir, { recursive: true, force: true });
  console.log(`${processes} processes × 4 loops, ${seconds} s, ${dist}`);
  for (const result of results) console.log(JSON.stringify(result));
  const total = results.reduce((sum, r) => sum + r.commits, 0);
  console.log(
    `commits ${total}, longest gap ${Math.max(...results.map((r) => r.longestGapMs))} ms, gaps over 100 ms ${results.reduce((sum, r) => sum + r.gapsOver100, 0)}`,
  );
}
