#!/usr/bin/env node
/**
 * CPU per gateway call, a figure that load on the machine barely moves (unlike req/s): one
 * Gatehouse process (GATEHOUSE_WORKERS=1) in front of bench/targets/upstream.mjs, the gateway
 * bench's platform (lib/gateway.mjs: an oauth2 profile with a never-refusing rate-limit policy, and
 * one without), 20 connections; per profile 5,000 calls to warm up, then 3 × 20,000 calls, each
 * reporting the CPU seconds (user + system, /proc) the Gatehouse processes spent ÷ the calls.
 * The bare proxy (targets/bare-proxy.mjs, one process) is measured the same way: the yardstick.
 *
 *   node bench/gateway-cpu.mjs [bench dir] [--profile] [--only 'bare proxy'|policy|'no policy']
 *
 * A bench dir of another worktree measures its build; `--profile` runs Gatehouse under --cpu-prof
 * and summarises the profile (profile-summary.mjs) at the end (the CPU figures are then higher).
 * Uses the build in dist/ (run `npm run build` first). Linux only (/proc).
 */
import fs from 'node:fs';
import path from 'node:path';
const args = process.argv.slice(2);
const profiling = args.includes('--profile');
const onlyAt = args.indexOf('--only');
const only = onlyAt === -1 ? undefined : args[onlyAt + 1];
const benchArg = args.find((a, i) => !a.startsWith('--') && (onlyAt === -1 || i !== onlyAt + 1));
const BENCH = benchArg ? path.resolve(benchArg) : import.meta.dirname;
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
const profileDir = profiling ? path.join(logDir, 'profiles') : undefined;
const gh = await startGatehouse({ alg: 'RS256', ttl: 3600, workers: 1, logDir, profileDir });
const proxyPort = await freePort();
const proxy = startProcess('bare proxy', process.execPath, [path.join(BENCH, 'targets/bare-proxy.mjs')], {
  env: { ...process.env, NODE_ENV: 'production', PORT: String(proxyPort), UPSTREAM_URL: upstreamUrl },
  cwd: BENCH,
  logFile: path.join(logDir, 'proxy.log'),
});
const proxyUrl = `http://127.0.0.1:${proxyPort}`;
await waitForOk(`${proxyUrl}/items/1`, proxy.child);
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
const run = (target, amount) =>
  new Promise((res, rej) =>
    autocannon(
      {
        url: target.url,
        headers: target.headers,
        connections: 20,
        amount,
      },
      (e, r) => (e ? rej(e) : res(r)),
    ),
  );
const gatehouse = (token) => ({
  pid: gh.pid,
  url: `${gh.url}/bench/items/42`,
  headers: { authorization: `Bearer ${token}` },
});
for (const [name, target] of [
  ['bare proxy', { pid: proxy.child.pid, url: `${proxyUrl}/items/42` }],
  ['policy', gatehouse(accessToken)],
  ['no policy', gatehouse(noPolicyToken)],
]) {
  if (only !== undefined && only !== name) continue;
  await run(target, 5000);
  const results = [];
  for (let i = 0; i < 3; i++) {
    const before = cpu(target.pid);
    const r = await run(target, 20000);
    const after = cpu(target.pid);
    results.push(((after - before) / 20000) * 1e6);
    if (r.non2xx || r.errors) console.log('errors', r.non2xx, r.errors);
  }
  console.log(`${name}: CPU µs per call`, results.map((x) => x.toFixed(0)).join(' '));
}
await gh.stop();
proxy.child.kill();
upstream.child.kill();
if (profileDir) {
  const { spawnSync } = await import('node:child_process');
  spawnSync(process.execPath, [path.join(BENCH, 'profile-summary.mjs'), profileDir, '--top', '40'], {
    stdio: 'inherit',
  });
}
process.exit(0);
