/**
 * Option parsers shared by the command groups. A value that cannot be parsed is a
 * usage error (commander's InvalidArgumentError → exit code 2), decided before any
 * store is opened.
 */
import { type Command, InvalidArgumentError } from 'commander';
import { MAX_PAGE_SIZE } from '../services/pagination.js';

/** `--limit <n>`: a page size from 1 to the services' maximum. */
export function parseLimit(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > MAX_PAGE_SIZE) {
    throw new InvalidArgumentError(`Must be a whole number from 1 to ${MAX_PAGE_SIZE}.`);
  }
  return Number(value);
}

/** For repeatable options (`--grant a --grant b`, or `--grant a,b`). */
export function collectList(value: string, previous: string[] | undefined): string[] {
  const parts = value
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '');
  return [...(previous ?? []), ...parts];
}

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };

/**
 * `--since`/`--until`: an ISO-8601 time (`2026-03-01`, `2026-03-01T12:00:00Z`) or a
 * duration before now (`30m`, `12h`, `7d`, `2w`). Returns an ISO string.
 */
export function timeParser(now: () => Date = () => new Date()): (value: string) => string {
  return (value: string) => {
    const relative = /^(\d+)([smhdw])$/.exec(value.trim());
    if (relative) {
      return new Date(
        now().getTime() - Number(relative[1]) * UNIT_SECONDS[relative[2]!]! * 1000,
      ).toISOString();
    }
    if (/^\d{4}-\d{2}-\d{2}/.test(value) && !Number.isNaN(Date.parse(value)))
      return new Date(value).toISOString();
    throw new InvalidArgumentError(
      'Must be an ISO-8601 time (2026-03-01T12:00:00Z) or a duration ago (30m, 12h, 7d).',
    );
  };
}

/**
 * `--ttl`/`--grace`: a number of seconds (`3600`) or a duration (`90s`, `15m`, `24h`, `7d`, `1w`).
 * Returns seconds; the allowed range is the service's to check.
 */
export function parseDuration(value: string): number {
  const match = /^(\d{1,9})([smhdw]?)$/.exec(value.trim());
  if (!match)
    throw new InvalidArgumentError('Must be a number of seconds or a duration such as 90s, 15m, 24h, 7d.');
  return Number(match[1]) * UNIT_SECONDS[match[2] || 's']!;
}

/** Reports a usage problem found after parsing (missing choice, nothing to do): exit code 2. */
export function usageError(command: Command, message: string): never {
  command.error(`error: ${message}`, { exitCode: 2, code: 'gatehouse.usage' });
}

/** `--enabled <bool>`: true/yes/on or false/no/off. */
export function parseBool(value: string): boolean {
  if (value === 'true' || value === 'yes' || value === 'on') return true;
  if (value === 'false' || value === 'no' || value === 'off') return false;
  throw new InvalidArgumentError('Must be true or false.');
}
