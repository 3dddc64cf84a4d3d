#!/usr/bin/env node
/**
 * Process entry: the only place that reads process.env and exits the process.
 */
import { runCli } from './cli/index.js';

// `gatehouse audit list | head`: a reader that stops early is not an error.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw error;
});

const code = await runCli(process.argv.slice(2), {
  env: process.env,
  // A getter: touching process.stdin opens it, and only --password-stdin needs it.
  get stdin() {
    return process.stdin;
  },
  stdout: process.stdout,
  stderr: process.stderr,
  cwd: process.cwd(),
});
process.exitCode = code;
