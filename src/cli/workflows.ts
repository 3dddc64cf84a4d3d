/**
 * `gatehouse workflows list|run|status|logs|cancel`, over the same service as
 * the Workflows API. The CLI sees every workflow (it is the operator). Runs are
 * executed by the engines of the `gatehouse serve` nodes on the same database;
 * `run` only queues (and with --wait follows the run until it ends).
 */
import fs from 'node:fs';
import path from 'node:path';
import { type Command, InvalidArgumentError } from 'commander';
import { ValidationError } from '../errors.js';
import { CLI_ACTOR } from '../services/context.js';
import { OPERATOR } from '../services/principal.js';
import type { WorkflowInstance } from '../services/workflows.js';
import type { CliIo } from './io.js';
import { writeJson, writeRecord, writeTable } from './output.js';
import { withRuntime } from './runtime.js';
import { parsePositiveInt } from './tokens.js';

const TERMINAL = new Set(['COMPLETED', 'FAILED', 'CANCELED']);
const WAIT_POLL_MS = 250;
const MAX_LIMIT = 500;

function parseOffset(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('Must be a whole number ≥ 0.');
  return Number(value);
}

function parseJson(value: string): unknown {
  try {
    return JSON.parse(value) as unknown;
  } catch {
    throw new InvalidArgumentError('Must be JSON, e.g. \'{"n": 2}\'.');
  }
}

function instanceRecord(i: WorkflowInstance): Record<string, unknown> {
  return {
    id: i.id,
    workflow: `${i.modelName} (${i.modelId})`,
    version: i.version,
    status: i.status,
    'steps completed': i.stepsCompleted,
    created: i.createdOn,
    started: i.startedOn,
    ended: i.endedOn,
    error: i.error,
    input: JSON.stringify(i.input),
    variables: JSON.stringify(i.variables),
  };
}

export function registerWorkflows(program: Command, io: CliIo): void {
  const workflows = program
    .command('workflows')
    .description('workflows and their runs (executed by the serve nodes)');

  workflows
    .command('list')
    .description('list workflows by name')
    .option('--name-like <text>', 'only names containing this text')
    .option('--limit <n>', `page size, 1–${MAX_LIMIT}`, parsePositiveInt(MAX_LIMIT))
    .option('--offset <n>', 'skip this many', parseOffset)
    .option('--json', 'print as JSON')
    .action(
      async (
        opts: { nameLike?: string; limit?: number; offset?: number; json?: boolean },
        command: Command,
      ) => {
        const list = await withRuntime(io, command, async ({ services }) =>
          services.workflows.list(OPERATOR, {
            nameLike: opts.nameLike,
            limit: opts.limit,
            offset: opts.offset,
          }),
        );
        if (opts.json) return writeJson(io.stdout, list);
        writeTable(io.stdout, list, {
          ID: (w) => w.id,
          NAME: (w) => w.name,
          VERSION: (w) => w.version,
          OWNER: (w) => w.ownerId,
          UPDATED: (w) => w.updatedOn,
        });
      },
    );

  workflows
    .command('run')
    .description('queue a run of a workflow (by id or exact name); a serve node executes it')
    .argument('<workflow>', 'workflow id or name')
    .option('--input <json>', 'the run input as JSON', parseJson)
    .option('--input-file <file>', 'read the run input from a JSON file')
    .option('--workflow-version <n>', 'run this version instead of the current one', parsePositiveInt())
    .option('--wait', 'follow the run until it ends; exit 1 unless it COMPLETED')
    .option(
      '--timeout <seconds>',
      'with --wait: give up waiting after this long (exit 1)',
      parsePositiveInt(),
    )
    .option('--json', 'print the run as JSON')
    .action(
      async (
        ref: string,
        opts: {
          input?: unknown;
          inputFile?: string;
          workflowVersion?: number;
          wait?: boolean;
          timeout?: number;
          json?: boolean;
        },
        command: Command,
      ) => {
        if (opts.input !== undefined && opts.inputFile !== undefined) {
          command.error('error: give --input or --input-file, not both', {
            exitCode: 2,
            code: 'gatehouse.usage',
          });
        }
        if (opts.timeout !== undefined && !opts.wait) {
          command.error('error: --timeout needs --wait', { exitCode: 2, code: 'gatehouse.usage' });
        }
        const input =
          opts.inputFile !== undefined ? readInputFile(path.resolve(io.cwd, opts.inputFile)) : opts.input;
        const finished = await withRuntime(io, command, async ({ services }) => {
          const workflow = await services.workflows.resolve(ref, OPERATOR);
          let run = await services.workflows.start(
            workflow.id,
            { input, version: opts.workflowVersion },
            OPERATOR,
            CLI_ACTOR,
          );
          if (!opts.wait) return run;
          if (!opts.json)
            io.stdout.write(`Queued run ${run.id} of ${workflow.name} v${run.version}; waiting…\n`);
          const deadline =
            opts.timeout === undefined ? Number.POSITIVE_INFINITY : Date.now() + opts.timeout * 1000;
          while (!TERMINAL.has(run.status) && Date.now() < deadline) {
            await new Promise((resolve) => setTimeout(resolve, WAIT_POLL_MS));
            run = await services.workflows.getInstance(run.id, OPERATOR);
          }
          return run;
        });
        if (opts.json) writeJson(io.stdout, finished);
        else if (!opts.wait)
          io.stdout.write(
            `Queued run ${finished.id} (${finished.modelName} v${finished.version}): ${finished.status}\n`,
          );
        else writeRecord(io.stdout, instanceRecord(finished));
        if (opts.wait && finished.status !== 'COMPLETED') {
          // runCli prints this as `gatehouse: …` on stderr and exits 1.
          throw new Error(
            TERMINAL.has(finished.status)
              ? `run ${finished.id} ended ${finished.status}${finished.error ? `: ${finished.error}` : ''}`
              : `run ${finished.id} is still ${finished.status} after ${opts.timeout} s (is a serve node running?)`,
          );
        }
      },
    );

  workflows
    .command('status')
    .description('show a run')
    .argument('<instanceId>', 'run id')
    .option('--json', 'print as JSON')
    .action(async (id: string, opts: { json?: boolean }, command: Command) => {
      const run = await withRuntime(io, command, async ({ services }) =>
        services.workflows.getInstance(id, OPERATOR),
      );
      if (opts.json) return writeJson(io.stdout, run);
      writeRecord(io.stdout, instanceRecord(run));
    });

  workflows
    .command('logs')
    .description('the log lines of a run, one per step')
    .argument('<instanceId>', 'run id')
    .option('--limit <n>', `page size, 1–${MAX_LIMIT}`, parsePositiveInt(MAX_LIMIT))
    .option('--offset <n>', 'skip this many', parseOffset)
    .option('--json', 'print as JSON')
    .action(
      async (id: string, opts: { limit?: number; offset?: number; json?: boolean }, command: Command) => {
        const logs = await withRuntime(io, command, async ({ services }) =>
          services.workflows.logs(id, OPERATOR, { limit: opts.limit, offset: opts.offset }),
        );
        if (opts.json) return writeJson(io.stdout, logs);
        writeTable(io.stdout, logs, {
          SEQ: (l) => l.seq,
          STEP: (l) => l.stepId,
          TYPE: (l) => l.type,
          STATUS: (l) => l.status,
          STARTED: (l) => l.startedOn,
          MS: (l) => l.durationMs,
          MESSAGE: (l) => l.error ?? l.message ?? (l.output === null ? null : JSON.stringify(l.output)),
        });
      },
    );

  workflows
    .command('cancel')
    .description(
      'cancel a run: at once if queued, else at the next step boundary (an in-flight HTTP call is aborted)',
    )
    .argument('<instanceId>', 'run id')
    .option('--json', 'print the run as JSON')
    .action(async (id: string, opts: { json?: boolean }, command: Command) => {
      const run = await withRuntime(io, command, async ({ services }) =>
        services.workflows.cancel(id, OPERATOR, CLI_ACTOR),
      );
      if (opts.json) return writeJson(io.stdout, run);
      io.stdout.write(
        run.status === 'CANCELED'
          ? `Canceled run ${run.id}.\n`
          : `Cancel requested for run ${run.id} (${run.status}); it stops at the next step boundary.\n`,
      );
    });
}

function readInputFile(file: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new ValidationError(`Cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? 'error'}.`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new ValidationError(`${file} is not valid JSON.`);
  }
}
