/** Runs the CLI in this process (no build needed) with the given environment, collecting its output. */
import { PassThrough } from 'node:stream';
import { runCli } from '../../src/cli/index.js';
import type { Env } from '../../src/config.js';

export interface InProcessResult {
  code: number;
  stdout: string;
  stderr: string;
}

export async function runCliInProcess(args: string[], env: Env = {}, cwd = '/'): Promise<InProcessResult> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  stderr.on('data', (chunk: Buffer) => {
    err += chunk.toString();
  });
  const code = await runCli(args, { env, stdin: new PassThrough(), stdout, stderr, cwd });
  return { code, stdout: out, stderr: err };
}
