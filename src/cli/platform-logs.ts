/**
 * `gatehouse platform logs` and `gatehouse platform stats`: the API platform's call logs and
 * dashboard counters (issue 14), over the same service as `GET /api/admin/v1/platform/logs` and
 * `/stats`. Added to the `platform` group that src/cli/platform.ts makes (registered after it).
 */
import { type Command, InvalidArgumentError, Option } from 'commander';
import { type CallLog, type CallStats, STATS_BUCKETS, STATS_GROUPINGS } from '../services/call-logs.js';
import { OPERATOR } from '../services/principal.js';
import type { CliIo } from './io.js';
import { parseDuration, parseLimit, timeParser } from './options.js';
import { emit, writeNextPage, writeTable } from './output.js';
import { withRuntime } from './runtime.js';

interface LogsOptions {
  profile?: string;
  collection?: string;
  endpoint?: string;
  status?: string;
  since?: string;
  until?: string;
  limit?: number;
  cursor?: string;
  json?: boolean;
}

interface StatsOptions {
  since?: string;
  until?: string;
  by?: string;
  bucket?: number;
  json?: boolean;
}

const named = (ref: { id: number; name: string | null } | null) =>
  ref === null ? null : (ref.name ?? `#${ref.id}`);
const ms = (value: number | null) => (value === null ? null : `${value} ms`);

const LOG_COLUMNS = {
  TIME: (c: CallLog) => c.time,
  STATUS: (c: CallLog) => c.status,
  METHOD: (c: CallLog) => c.method,
  PATH: (c: CallLog) => c.path,
  PROFILE: (c: CallLog) => named(c.profile),
  ENDPOINT: (c: CallLog) => named(c.endpoint),
  UPSTREAM: (c: CallLog) => ms(c.upstreamLatencyMs),
  TOTAL: (c: CallLog) => ms(c.durationMs),
  IN: (c: CallLog) => c.bytesIn,
  OUT: (c: CallLog) => c.bytesOut,
  IP: (c: CallLog) => c.ip,
};

type StatsItem = CallStats['items'][number];
const statsColumns = (by: CallStats['by']) => ({
  ...(by === 'endpoint'
    ? {
        COLLECTION: (i: StatsItem) => named(i.collection ?? null),
        ENDPOINT: (i: StatsItem) => named(i.endpoint ?? null) ?? '(none matched)',
      }
    : { PROFILE: (i: StatsItem) => named(i.profile ?? null) ?? '(no profile)' }),
  CALLS: (i: StatsItem) => i.calls,
  ERRORS: (i: StatsItem) => i.errors,
  '4XX': (i: StatsItem) => i.clientErrors,
  'P50 ≤': (i: StatsItem) => ms(i.latencyMs.p50),
  'P95 ≤': (i: StatsItem) => ms(i.latencyMs.p95),
  'P99 ≤': (i: StatsItem) => ms(i.latencyMs.p99),
  AVG: (i: StatsItem) => ms(i.latencyMs.average),
  IN: (i: StatsItem) => i.bytesIn,
  OUT: (i: StatsItem) => i.bytesOut,
});

/** `--bucket 1m|5m|15m|1h|6h|1d` (or seconds): one of the widths the service offers. */
function parseBucket(value: string): number {
  const seconds = parseDuration(value);
  if (!(STATS_BUCKETS as readonly number[]).includes(seconds))
    throw new InvalidArgumentError('Must be one of 1m, 5m, 15m, 1h, 6h, 1d.');
  return seconds;
}

/** The series as one line per point with a bar, for a terminal. */
function writeSeries(io: CliIo, stats: CallStats): void {
  const most = Math.max(1, ...stats.series.map((p) => p.calls));
  io.stdout.write(`\nCalls per ${stats.bucketSeconds / 60} min:\n`);
  for (const point of stats.series) {
    const bar = '#'.repeat(Math.round((point.calls / most) * 40));
    io.stdout.write(
      `  ${point.start}  ${String(point.calls).padStart(7)}  ${bar}${point.errors > 0 ? `  (${point.errors} errors)` : ''}\n`,
    );
  }
}

/** Adds `logs` and `stats` to the `platform` command group. */
export function registerPlatformLogs(program: Command, io: CliIo): void {
  const platform = program.commands.find((command) => command.name() === 'platform');
  if (platform === undefined) throw new Error('the platform command group is registered first');

  platform
    .command('logs')
    .description(
      'API platform call logs, newest first (every call that named a collection, refused ones too)',
    )
    .option('--profile <profile>', 'only calls of this access profile (id or name)')
    .option('--collection <collection>', 'only calls to this API collection (id or prefix)')
    .option('--endpoint <id>', 'only calls that matched this endpoint (id)')
    .option('--status <status>', 'only this status (404) or class (5xx)')
    .option(
      '--since <time>',
      'only calls at or after this time (ISO-8601, or a duration ago such as 30m, 12h, 7d)',
      timeParser(),
    )
    .option('--until <time>', 'only calls before this time (same forms as --since)', timeParser())
    .option('--limit <n>', 'page size (1–200, default 50)', parseLimit)
    .option('--cursor <cursor>', 'continue after the page that printed this cursor')
    .option('--json', 'print {items, nextCursor} as JSON')
    .action(async (opts: LogsOptions, command: Command) => {
      await withRuntime(io, command, async ({ services }) => {
        const page = await services.callLogs.query(
          {
            profile: opts.profile,
            collection: opts.collection,
            endpoint: opts.endpoint,
            status: opts.status,
            from: opts.since,
            to: opts.until,
            limit: opts.limit,
            cursor: opts.cursor,
          },
          OPERATOR,
        );
        emit(io.stdout, opts.json, page, () => {
          if (page.items.length === 0) io.stdout.write('No calls.\n');
          else writeTable(io.stdout, page.items, LOG_COLUMNS);
          writeNextPage(io.stdout, page.nextCursor);
        });
      });
    });

  platform
    .command('stats')
    .description(
      'API platform counters: calls, errors (status ≥ 500), 4xx, upstream latency percentiles and bytes per endpoint or profile, and calls over time',
    )
    .option(
      '--since <time>',
      'from this time (ISO-8601, or a duration ago such as 12h, 7d; default 24 hours before --until)',
      timeParser(),
    )
    .option('--until <time>', 'up to this time (same forms; default now)', timeParser())
    .addOption(new Option('--by <grouping>', 'one row per endpoint or per profile').choices(STATS_GROUPINGS))
    .option(
      '--bucket <width>',
      'width of a point of the series: 1m, 5m, 15m, 1h, 6h or 1d (default: from the range)',
      parseBucket,
    )
    .option('--json', 'print the whole answer as JSON (as GET /api/admin/v1/platform/stats)')
    .action(async (opts: StatsOptions, command: Command) => {
      await withRuntime(io, command, async ({ services }) => {
        const stats = await services.callLogs.stats(
          { from: opts.since, to: opts.until, by: opts.by, bucket: opts.bucket },
          OPERATOR,
        );
        emit(io.stdout, opts.json, stats, () => {
          const t = stats.totals;
          io.stdout.write(
            `${stats.from} – ${stats.to}: ${t.calls} calls, ${t.errors} errors (≥ 500), ${t.clientErrors} 4xx; ` +
              `upstream latency p50 ≤ ${ms(t.latencyMs.p50) ?? '-'}, p95 ≤ ${ms(t.latencyMs.p95) ?? '-'}, p99 ≤ ${ms(t.latencyMs.p99) ?? '-'}\n`,
          );
          if (stats.items.length > 0) {
            io.stdout.write('\n');
            writeTable(io.stdout, stats.items, statsColumns(stats.by));
          }
          writeSeries(io, stats);
        });
      });
    });
}
