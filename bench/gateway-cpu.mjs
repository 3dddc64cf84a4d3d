#!/usr/bin/env node
/**
 * CPU per gateway call, a figure that load on the machine barely moves (unlike req/s): one
 * Gatehouse process (GATEHOUSE_WORKERS=1) in front of bench/targets/upstream.mjs, the gateway
 * bench's platform (lib/gateway.mjs: an oauth2 profile with a never-refusing rate-limit policy, and
 * one without), 20 connections; per profile 5,000 calls to warm up, then 3 × 20,000 calls, each
 * reporting the CPU seconds (user + system, /proc) the Gatehouse processes spent ÷ the calls.
 *
 *   node bench/gateway-cpu.mjs [bench dir]   # the bench dir of another worktree measures its build
 *
 * Uses the build in dist/ (run `npm run build` first). Linux only (/proc).
 */
import fs from 'node:fs';
import path from 'node:path';
const BENCH = process.argv[2] ? path.resolve(process.argv[2]) : import.meta.dirname;
const { freePort, startProcess, waitForOk } = await import(path.join(BENCH, 'lib/processes.mjs'));
const { startGatehouse } = await import(path.join(BENCH, 'lib/gatehouse.mjs'));
const { seedPlatform } = await import(path.join(BENCH, 'lib/gateway.mjs'));
const { createRequire } = await import('node:module');
const autocannon = createRequire(path.join(BENCH, 'package.json'))('autocannon');
const logDir = fs.mkdtempSync('/tmp/gwcpu-');
const upstreamPort = await freePort();
const upstream = startProcess('upstream', process.execPath, [path.join(BENCH, 'targets/upstream.mjs')], {
  env: { ...process.env, NODE_ENV: 'production', PORT: String(upstreamPort), UPSTREAM_WORKERS: '1' },
  cwd: BENCH,
  logFile: path.join(logDir, 'up.log'),
});
const upstreamUrl = `http://127.0.0.1:${upstreamPort}`;
await waitForOk(`${upstreamUrl}/items/1`, upstream.child);
const gh = await startGatehouse({ alg: 'RS256', ttl: 3600, workers: 1, logDir });
const { accessToken, noPolicyToken } = await seedPlatform(gh, upstreamUrl);
const cpu1 = (pid) => {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
};
const tree = (pid) => [
  pid,
  ...fs
    .readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
    .trim()
    .split(/\s+/)
    .filter(Boolean)
    .map(Number)
    .flatMap(tree),
];
const cpu = (pid) => tree(pid).reduce((a, p) => a + cpu1(p), 0);
const run = (token, amount) =>
  new Promise((res, rej) =>
    autocannon(
      {
        url: `${gh.url}/bench/items/42`,
        headers: { authorization: `Bearer ${token}` },
        connections: 20,
        amount,
      },
      (e, r) => (e ? rej(e) : res(r)),
    ),
  );
const pid = gh.pid;
for (const [name, token] of [
  ['policy', accessToken],
  ['no policy', noPolicyToken],
]) {
  await run(token, 5000);
  const results = [];
  for (let i = 0; i < 3; i++) {
    const before = cpu(pid);
    const r = await run(token, 20000);
    const after = cpu(pid);
    results.push(((after - before) / 20000) * 1e6);
    if (r.non2xx || r.errors) console.log('errors', r.non2xx, r.errors);
  }
  console.log(`${name}: CPU µs per call`, results.map((x) => x.toFixed(0)).join(' '));
}
await gh.stop();
upstream.child.kill();
process.exit(0);
