/** Starting, watching and stopping the processes under test (always on 127.0.0.1). */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';

export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Consecutive 200s, each on a new connection, before a server counts as ready. */
const READY_IN_A_ROW = 8;

/**
 * Polls `url` until it answers 200 READY_IN_A_ROW times in a row, each on a new connection (the
 * process may still be forking workers, and a cluster's workers learn that they are ready one
 * after another: new connections go round the workers, so every worker has answered 200).
 */
export async function waitForOk(url, child, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  let inARow = 0;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${url}: the process exited with code ${child.exitCode}`);
    try {
      const response = await fetch(url, { headers: { connection: 'close' } });
      await response.arrayBuffer();
      inARow = response.ok ? inARow + 1 : 0;
      if (inARow >= READY_IN_A_ROW) return;
      if (response.ok) continue;
    } catch {
      // not listening yet
      inARow = 0;
    }
    if (Date.now() > deadline) throw new Error(`${url} did not become ready in ${timeoutMs} ms`);
    await sleep(100);
  }
}

/**
 * Spawns a long-running process with its output appended to `logFile`, and returns a handle
 * that stops it with SIGTERM (then waits for the exit) and measures its resident memory.
 */
export function startProcess(name, command, args, { env, cwd, logFile }) {
  const log = fs.openSync(logFile, 'a');
  const child = spawn(command, args, { env, cwd, stdio: ['ignore', log, log] });
  fs.closeSync(log);
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  return {
    name,
    child,
    exited,
    /** Resident set size in bytes of the process and its direct children (cluster workers). */
    rss: () => treeRss(child.pid),
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return exited;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 40_000);
      const result = await exited;
      clearTimeout(timer);
      return result;
    },
  };
}

export function treeRss(pid) {
  try {
    const out = execFileSync('ps', ['-o', 'rss=', '--pid', String(pid), '--ppid', String(pid)], {
      encoding: 'utf8',
    });
    return out
      .split('\n')
      .map((line) => Number(line.trim()))
      .filter((kb) => kb > 0)
      .reduce((sum, kb) => sum + kb * 1024, 0);
  } catch {
    return 0;
  }
}

/** Runs a command to completion; returns stdout, throws with stderr on failure. */
export function runToEnd(command, args, { env, cwd }) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk) => {
      stdout += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk) => {
      stderr += chunk;
    });
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code === 0) resolve(stdout);
      else reject(new Error(`${command} ${args.join(' ')} exited with ${code}:\n${stderr}${stdout}`));
    });
  });
}
