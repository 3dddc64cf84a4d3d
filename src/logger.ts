/**
 * Structured logs with pino. No secret reaches a log line:
 * - any field whose name says it holds one (`password`, `newPassword`, `secret`,
 *   `client_secret`, `token`, `csrfToken`, `authorization`, `cookie`, `set-cookie`,
 *   `x-domo-developer-token` …), at any depth, is replaced by `[redacted]`;
 * - strings (the message, error messages, any value) are scrubbed of things that
 *   look like credentials: developer tokens (`gh_dev_…`), JWTs, `Bearer …`/`Basic …`
 *   values and `client_secret=…`-style query parameters.
 * The work happens only for lines that are actually written.
 */
import { createRequire } from 'node:module';
import { pino, type Logger as PinoLogger } from 'pino';
import type { LogFormat, LogLevel } from './config.js';

export type Logger = PinoLogger;

export const CENSOR = '[redacted]';

/** Field names that hold a secret, matched case-insensitively at the end of the name. */
const SECRET_FIELD = /(password|passwd|secret|token|authorization|cookie|api[-_]?key)$/i;

const SECRET_TEXT: ReadonlyArray<[RegExp, string]> = [
  [/gh_dev_[A-Za-z0-9_-]{8,}/g, `gh_dev_${CENSOR}`],
  [/\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*/g, CENSOR],
  [/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{6,}/gi, `$1 ${CENSOR}`],
  [/\b((?:client_)?secret|password|(?:access_|refresh_)?token)=[^&\s"']+/gi, `$1=${CENSOR}`],
];

/** `text` with anything that looks like a credential replaced; the same string when there is none. */
export function scrubText(text: string): string {
  let out = text;
  for (const [pattern, replacement] of SECRET_TEXT) out = out.replace(pattern, replacement);
  return out;
}

const MAX_DEPTH = 8;

/**
 * A copy of `value` with secret fields censored and strings scrubbed. Parts that need
 * no change are returned as they are (no copy), so a clean log line costs one walk.
 */
export function censorSecrets(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return scrubText(value);
  if (value === null || typeof value !== 'object' || depth >= MAX_DEPTH) return value;
  if (value instanceof Error) return censorError(value, depth);
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    value.forEach((item, i) => {
      const censored = censorSecrets(item, depth + 1);
      if (censored !== item) {
        copy ??= [...value];
        copy[i] = censored;
      }
    });
    return copy ?? value;
  }
  if (Buffer.isBuffer(value) || value instanceof Date || value instanceof Map || value instanceof Set)
    return value;
  let copy: Record<string, unknown> | undefined;
  for (const [key, item] of Object.entries(value)) {
    const censored =
      SECRET_FIELD.test(key) && item !== undefined && item !== null ? CENSOR : censorSecrets(item, depth + 1);
    if (censored !== item) {
      copy ??= { ...(value as Record<string, unknown>) };
      copy[key] = censored;
    }
  }
  return copy ?? value;
}

/** Errors keep their class (pino's error serializer needs it); a scrubbed clone replaces one that leaks. */
function censorError(error: Error, depth: number): Error {
  const message = scrubText(error.message);
  const stack = error.stack === undefined ? undefined : scrubText(error.stack);
  const fields: Record<string, unknown> = {};
  let changed = message !== error.message || stack !== error.stack;
  for (const [key, item] of Object.entries(error)) {
    const censored =
      SECRET_FIELD.test(key) && item !== undefined && item !== null ? CENSOR : censorSecrets(item, depth + 1);
    if (censored !== item) changed = true;
    fields[key] = censored;
  }
  if (!changed) return error;
  const clone = Object.create(Object.getPrototypeOf(error) as object) as Error;
  Object.assign(clone, fields);
  Object.defineProperty(clone, 'message', {
    value: message,
    enumerable: false,
    writable: true,
    configurable: true,
  });
  Object.defineProperty(clone, 'stack', {
    value: stack,
    enumerable: false,
    writable: true,
    configurable: true,
  });
  if (error.cause !== undefined) {
    Object.defineProperty(clone, 'cause', {
      value: censorSecrets(error.cause, depth + 1),
      enumerable: false,
    });
  }
  return clone;
}

/** `auto` → pretty when the output is a terminal, JSON otherwise. */
export function resolveLogFormat(format: LogFormat, isTerminal: boolean): 'json' | 'pretty' {
  if (format === 'auto') return isTerminal ? 'pretty' : 'json';
  return format;
}

/**
 * pino-pretty as a synchronous stream in this process (not a transport thread): one readable line
 * per entry, its fields after the message, colours only on a terminal. It gets the lines after
 * redaction, like any destination. Loaded only when asked for, so JSON logging never loads it.
 */
function prettyStream(destination: NodeJS.WritableStream | undefined): pino.DestinationStream {
  const require = createRequire(import.meta.url);
  const pretty = require('pino-pretty') as typeof import('pino-pretty');
  const target = destination ?? process.stdout;
  return pretty({
    destination: target,
    sync: true,
    colorize: (target as { isTTY?: boolean }).isTTY === true,
    singleLine: true,
    translateTime: 'SYS:yyyy-mm-dd HH:MM:ss.l',
    ignore: 'hostname',
    // `error` in a request line is the error code the client got, not an Error: keep it inline.
    errorLikeObjectKeys: ['err'],
  });
}

export function createLogger(
  level: LogLevel,
  destination?: NodeJS.WritableStream,
  format: 'json' | 'pretty' = 'json',
): Logger {
  const stream =
    format === 'pretty' ? prettyStream(destination) : (destination as pino.DestinationStream | undefined);
  return pino(
    {
      level,
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: {
        log: (object) => censorSecrets(object) as Record<string, unknown>,
      },
      hooks: {
        logMethod(args, method) {
          const scrubbed = args.map((arg) => (typeof arg === 'string' ? scrubText(arg) : arg));
          method.apply(this, scrubbed as Parameters<typeof method>);
        },
      },
    },
    stream,
  );
}

/** A logger that writes nothing; for tests and the CLI's quiet paths. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
