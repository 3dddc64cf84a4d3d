#!/usr/bin/env node
/**
 * Summarises V8 CPU profiles (`node --cpu-prof`, as `npm run bench -- --profile` writes them
 * for the Gatehouse workers): where the event loop's time goes, by part and by function.
 *
 *   node bench/profile-summary.mjs <dir-or-file.cpuprofile>… [--top 20]
 *
 * Self time is attributed to a part: Gatehouse's own files by folder (oauth, services, store …),
 * npm packages by name, Node's internals by module, and V8's (idle), (garbage collector),
 * (program). Only the event loops (thread 0 of each process) are broken down; worker threads
 * (the token signer threads, tokens/signer.ts) are listed with how busy they were, since
 * their time is exactly the work kept off the event loop.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { top: { type: 'string', default: '20' } },
});
const files = positionals.flatMap((entry) =>
  fs.statSync(entry).isDirectory()
    ? fs
        .readdirSync(entry)
        .filter((f) => f.endsWith('.cpuprofile'))
        .map((f) => path.join(entry, f))
    : [entry],
);
if (files.length === 0) {
  console.error('usage: node bench/profile-summary.mjs <dir-or-file.cpuprofile>…');
  process.exit(2);
}

/** The part a call frame belongs to. */
function partOf({ functionName, url }) {
  if (!url) {
    if (functionName.startsWith('(')) return functionName;
    return '(native)';
  }
  const pkg = url.match(/node_modules\/((?:@[^/]+\/)?[^/]+)\//);
  if (pkg) return pkg[1];
  const ours = url.match(/\/dist\/(.+)\.js$/);
  if (ours) {
    return `gatehouse ${ours[1].split('/')[0]}`;
  }
  if (url.startsWith('node:')) {
    const name = url.slice(5).replace(/^internal\//, '');
    return `node:${name.split('/')[0]}`;
  }
  return url;
}

/** Buckets that answer the questions issue 6 asks. */
function bucketOf(part, frame) {
  const where = `${frame.url} ${frame.functionName}`;
  if (part === '(idle)') return 'idle (waiting for I/O or for signatures)';
  if (part === '(garbage collector)') return 'garbage collection';
  if (/better-sqlite3|kysely|^pg|pg-protocol|gatehouse store/.test(part))
    return 'database (driver, query builder, store)';
  if (/timingSafeEqual|createHmac|Hmac|client-auth|secret/i.test(where))
    return 'secret checking (HMAC, constant-time compare)';
  if (part === 'jose' || /node:crypto|webcrypto/.test(part)) return 'JWT signing / crypto (on the loop)';
  if (
    /fastify|find-my-way|light-my-request|avvio|@fastify|fast-json-stringify|ajv|secure-json-parse|fast-querystring/.test(
      part,
    )
  )
    return 'fastify (routing, hooks, validation, serialisation)';
  if (/pino|sonic-boom/.test(part)) return 'logging';
  if (
    /^node:(http|net|stream|_http|events|timers|async_hooks|process|buffer|zlib|dns|url|querystring)/.test(
      part,
    )
  )
    return 'node HTTP / streams / timers';
  if (part.startsWith('gatehouse')) return `${part} (own code)`;
  if (
    /^(writev|writeUtf8String|writeBuffer|writeLatin1String|writeAsciiString|readStart|readStop|shutdown|close)$/.test(
      frame.functionName,
    )
  )
    return 'socket I/O (native)';
  if (/^node:(modules|bootstrap|main|per_context)/.test(part)) return 'start-up (loading modules)';
  if (part === '(program)' || part === '(native)') return 'V8 / native (program)';
  return 'other';
}

/** `CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile`: thread 0 is the event loop, others are worker threads. */
const threadOf = (file) => Number(path.basename(file).split('.')[4] ?? 0);
const loopFiles = files.filter((file) => threadOf(file) === 0);
const threadFiles = files.filter((file) => threadOf(file) !== 0);

const byBucket = new Map();
const byFunction = new Map();
let total = 0;
const perFile = [];
for (const file of loopFiles) {
  const profile = JSON.parse(fs.readFileSync(file, 'utf8'));
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
  const self = new Map();
  // Each sample's time is the delta to the next one (V8's own attribution).
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i + 1] ?? 0;
    self.set(id, (self.get(id) ?? 0) + dt);
  });
  let fileTotal = 0;
  let fileBusy = 0;
  for (const [id, micros] of self) {
    const frame = nodes.get(id).callFrame;
    const part = partOf(frame);
    const bucket = bucketOf(part, frame);
    byBucket.set(bucket, (byBucket.get(bucket) ?? 0) + micros);
    const fn =
      `${frame.functionName || '(anonymous)'} ${frame.url ? `${path.basename(frame.url)}:${frame.lineNumber + 1}` : ''}`.trim();
    const key = `${bucket}\t${fn}`;
    byFunction.set(key, (byFunction.get(key) ?? 0) + micros);
    fileTotal += micros;
    if (part !== '(idle)') fileBusy += micros;
  }
  total += fileTotal;
  perFile.push({ file: path.basename(file), seconds: fileTotal / 1e6, busy: fileBusy / fileTotal });
}

// Worker threads (the token signer threads) are reported apart: their time is not the event loop's.
const threadTimes = threadFiles.map((file) => {
  const profile = JSON.parse(fs.readFileSync(file, 'utf8'));
  const idleIds = new Set(
    profile.nodes.filter((n) => n.callFrame.functionName === '(idle)').map((n) => n.id),
  );
  let sampled = 0;
  let idleMicros = 0;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i + 1] ?? 0;
    sampled += dt;
    if (idleIds.has(id)) idleMicros += dt;
  });
  return { file: path.basename(file), seconds: sampled / 1e6, busy: sampled ? 1 - idleMicros / sampled : 0 };
});

const pct = (micros, of) => `${((micros / of) * 100).toFixed(1)} %`;
const idle = byBucket.get('idle (waiting for I/O or for signatures)') ?? 0;
const busy = total - idle;
console.log('profiles:');
for (const f of perFile)
  console.log(`  ${f.file}: ${f.seconds.toFixed(1)} s sampled, ${(f.busy * 100).toFixed(0)} % busy`);
for (const f of threadTimes)
  console.log(
    `  ${f.file}: ${f.seconds.toFixed(1)} s sampled, ${(f.busy * 100).toFixed(0)} % busy (worker thread: signing)`,
  );
console.log(`\nwhere the event-loop time goes (share of all sampled time / of busy time):`);
for (const [bucket, micros] of [...byBucket].sort((a, b) => b[1] - a[1])) {
  const ofBusy = micros === idle ? '' : pct(micros, busy);
  console.log(`  ${pct(micros, total).padStart(7)}  ${ofBusy.padStart(7)}  ${bucket}`);
}
console.log(`\ntop ${values.top} functions by self time (share of busy time):`);
for (const [key, micros] of [...byFunction]
  .filter(([key]) => !key.startsWith('idle'))
  .sort((a, b) => b[1] - a[1])
  .slice(0, Number(values.top))) {
  const [bucket, fn] = key.split('\t');
  console.log(`  ${pct(micros, busy).padStart(7)}  ${fn}  [${bucket}]`);
}
