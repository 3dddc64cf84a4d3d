/**
 * `gatehouse audit list`: the audit log, newest first, with the filters of the
 * admin API's GET /audit and its cursor pagination.
 */
import type { Command } from 'commander';
import { ValidationError } from '../errors.js';
import type { AuditEvent, AuditQuery } from '../services/audit.js';
import type { Services } from '../services/index.js';
import type { CliIo } from './io.js';
import { parseLimit, timeParser, usageError } from './options.js';
import { emit, writeNextPage, writeTable } from './output.js';
import { withRuntime } from './runtime.js';

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
}
