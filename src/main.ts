#!/usr/bin/env node
/**
 * Process entry: the only place that reads process.env and exits the process.
 */
import { runCli } from './cli/index.js';

const code = await runCli(process.argv.slice(2), {
  env: process.env,
  stdout: process.stdout,
  stderr: process.stderr,
  cwd: process.cwd(),
});
process.exitCode = code;
