/**
 * `gatehouse audit list`: the audit log, newest first, with the filters of the
 * admin API's GET /audit and its cursor pagination.
 * `gatehouse audit export`: every event of a time range, oldest first, as JSON lines, so the
 * log can be archived before GATEHOUSE_AUDIT_RETENTION_DAYS prunes it.
 */
import fs from 'node:fs';
import { once } from 'node:events';
import path from 'node:path';
import type { Writable } from 'node:stream';
import type { Command } from 'commander';
import { ValidationError } from '../errors.js';
import type { AuditEvent, AuditQuery } from '../services/audit.js';
import type { Services } from '../services/index.js';
import type { CliIo } from './io.js';
import { parseLimit, timeParser, usageError } from './options.js';
import { emit, writeNextPage, writeTable } from './output.js';
import { withRuntime } from './runtime.js';

interface AuditExportOptions {
  since?: string;
  until?: string;
  out?: string;
}

/** How often a long export reports progress on stderr. */
const PROGRESS_MS = 2000;

async function writeLine(stream: Writable, line: string): Promise<void> {
  if (!stream.write(line)) await once(stream, 'drain');
}

/**
 * Streams the events to `out` (stdout when undefined): one JSON object per line, the shape of
 * `audit list --json` items. A file is written as `<out>.partial` and renamed when complete, so
 * an interrupted export never looks like a finished archive.
 */
async function exportEvents(services: Services, io: CliIo, opts: AuditExportOptions): Promise<void> {
  const target = opts.out === undefined ? undefined : path.resolve(io.cwd, opts.out);
  const partial = target === undefined ? undefined : `${target}.partial`;
  const stream: Writable = partial === undefined ? io.stdout : fs.createWriteStream(partial, { mode: 0o600 });
  let count = 0;
  let last: string | undefined;
  const started = Date.now();
  let reported = started;
  try {
    for await (const event of services.audit.export({ since: opts.since, until: opts.until })) {
      await writeLine(stream, `${JSON.stringify(event)}\n`);
      count += 1;
      last = event.occurredAt;
      const now = Date.now();
      if (now - reported >= PROGRESS_MS) {
        reported = now;
        io.stderr.write(`exported ${count.toLocaleString('en-US')} events (up to ${last})\n`);
      }
    }
    if (partial !== undefined && target !== undefined) {
      stream.end();
      await once(stream, 'finish');
      fs.renameSync(partial, target);
      io.stdout.write(`Exported ${count} events to ${target}.\n`);
    } else if (Date.now() - started >= PROGRESS_MS) {
      io.stderr.write(`exported ${count.toLocaleString('en-US')} events\n`);
    }
  } catch (error) {
    if (partial !== undefined) {
      stream.destroy();
      fs.rmSync(partial, { force: true });
    }
    throw error;
  }
}

interface AuditListOptions {
  since?: string;
  until?: string;
  actor?: string;
  action?: string;
  target?: string;
  limit?: number;
  cursor?: string;
  json?: boolean;
}

/** A user reference as people type it: an id or an email. */
async function userId(services: Services, ref: string): Promise<string> {
  if (/^\d+$/.test(ref)) return ref;
  const user = await services.users.find(ref);
  if (!user) throw new ValidationError(`Unknown user "${ref}".`, { field: 'actor' });
  return String(user.id);
}

/**
 * `--actor`: `cli`, `system`, `user:<id|email>`, `client:<client id>`, or a bare
 * user id or email. `--target`: `<type>` or `<type>:<id>` (`user:<email>` works too).
 */
async function toQuery(services: Services, opts: AuditListOptions, command: Command): Promise<AuditQuery> {
  const query: AuditQuery = {
    from: opts.since,
    to: opts.until,
    action: opts.action,
    limit: opts.limit,
    cursor: opts.cursor,
  };
  if (opts.actor !== undefined) {
    const [kind, ...rest] = opts.actor.split(':');
    const id = rest.join(':');
    if ((kind === 'cli' || kind === 'system') && id === '') query.actorType = kind;
    else if (kind === 'user' && id !== '')
      Object.assign(query, { actorType: 'user', actorId: await userId(services, id) });
    else if (kind === 'client' && id !== '') Object.assign(query, { actorType: 'client', actorId: id });
    else if (rest.length === 0 && kind !== '')
      Object.assign(query, { actorType: 'user', actorId: await userId(services, kind!) });
    else
      usageError(
        command,
        `option '--actor <actor>' argument '${opts.actor}' is invalid: use cli, system, user:<id|email> or client:<id>.`,
      );
  }
  if (opts.target !== undefined) {
    const [type, ...rest] = opts.target.split(':');
    if (!type)
      usageError(
        command,
        `option '--target <target>' argument '${opts.target}' is invalid: use <type> or <type>:<id>.`,
      );
    query.targetType = type;
    const id = rest.join(':');
    if (id !== '') query.targetId = type === 'user' ? await userId(services, id) : id;
  }
  return query;
}

function summarize(details: Record<string, unknown>): string {
  const text = JSON.stringify(details);
  return text === '{}' ? '' : text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function actorText(event: AuditEvent): string {
  if (event.actor.id === null) return event.actor.type;
  return `${event.actor.type}:${event.actor.id}${event.actor.label ? ` (${event.actor.label})` : ''}`;
}

export function registerAudit(program: Command, io: CliIo): void {
  const audit = program.command('audit').description('read the audit log');
  audit
    .command('list')
    .description('list audit events, newest first')
    .option(
      '--since <time>',
      'only events at or after this time (ISO-8601, or a duration ago such as 30m, 12h, 7d)',
      timeParser(),
    )
    .option('--until <time>', 'only events before this time (same forms as --since)', timeParser())
    .option('--actor <actor>', 'cli, system, user:<id|email>, client:<client id>, or a user id or email')
    .option('--action <action>', 'an action id (user.created), or a family (user.* or user.)')
    .option('--target <target>', '<type> or <type>:<id>, e.g. role, user:5, api_client:<client id>')
    .option('--limit <n>', 'page size (1–200, default 50)', parseLimit)
    .option('--cursor <cursor>', 'continue after the page that printed this cursor')
    .option('--json', 'print {items, nextCursor} as JSON')
    .action(async (opts: AuditListOptions, command: Command) => {
      await withRuntime(io, command, async ({ services }) => {
        const page = await services.audit.query(await toQuery(services, opts, command));
        emit(io.stdout, opts.json, page, () => {
          writeTable(io.stdout, page.items, {
            ID: (e) => e.id,
            TIME: (e) => e.occurredAt,
            ACTOR: actorText,
            ACTION: (e) => e.action,
            TARGET: (e) => (e.target ? `${e.target.type}:${e.target.id}` : null),
            IP: (e) => e.ip,
            DETAILS: (e) => summarize(e.details),
          });
          writeNextPage(io.stdout, page.nextCursor);
        });
      });
    });
  audit
    .command('export')
    .description(
      'write audit events as JSON lines, oldest first (to archive them before retention prunes them)',
    )
    .option(
      '--since <time>',
      'only events at or after this time (ISO-8601, or a duration ago such as 30d)',
      timeParser(),
    )
    .option('--until <time>', 'only events before this time (same forms as --since)', timeParser())
    .option('--out <file>', 'write to this file (created with mode 600) instead of standard output')
    .action(async (opts: AuditExportOptions, command: Command) => {
      await withRuntime(io, command, async ({ services }) => exportEvents(services, io, opts));
    });
}
