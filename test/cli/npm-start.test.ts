/**
 * `npm start` passes signals on to Gatehouse: SIGTERM to npm's pid stops the server instead of
 * orphaning it (npm signals the script's shell; the script must `exec` the server so the shell
 * is the server). The real `start` script from package.json runs in a scratch project whose
 * `build` script is a no-op, so the test does not rebuild dist/ under the other tests' feet.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { freePort } from '../helpers/net.js';

const ROOT = path.resolve(import.meta.dirname, '../..');

async function answers(url: string): Promise<boolean> {
  try {
    await fetch(url, { signal: AbortSignal.timeout(2_000) });
    return true;
  } catch {
    return false;
  }
}

describe('npm start', { timeout: 120_000 }, () => {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-npm-start-'));
  afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

  it('stops the server when npm itself gets SIGTERM', async () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    };
    fs.writeFileSync(
      path.join(scratch, 'package.json'),
      JSON.stringify({
        name: 'scratch',
        private: true,
        type: 'module',
        scripts: { build: 'true', start: pkg.scripts.start },
      }),
    );
    fs.symlinkSync(path.join(ROOT, 'dist'), path.join(scratch, 'dist'));
    fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(scratch, 'node_modules'));
    const port = await freePort();
    const npm = spawn('npm', ['start'], {
      cwd: scratch,
      env: {
        PATH: process.env.PATH,
        HOME: scratch,
        PORT: String(port),
        GATEHOUSE_WORKERS: '1',
        GATEHOUSE_LOG_LEVEL: 'info',
        GATEHOUSE_METRICS_PORT: 'off',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    npm.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
    });
    npm.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
    });
    const exited = new Promise<number | null>((resolve) => npm.once('exit', (code) => resolve(code)));
    const healthz = `http://127.0.0.1:${port}/healthz`;
    try {
      await vi.waitFor(() => expect(output).toContain('"msg":"Gatehouse is ready"'), {
        timeout: 60_000,
        interval: 100,
      });
      expect(await answers(healthz)).toBe(true);
      npm.kill('SIGTERM');
      await exited;
      await vi.waitFor(async () => expect(await answers(healthz)).toBe(false), {
        timeout: 30_000,
        interval: 100,
      });
      expect(output).toContain('"msg":"stopped"');
    } finally {
      if (npm.exitCode === null) npm.kill('SIGKILL');
    }
  });
});
