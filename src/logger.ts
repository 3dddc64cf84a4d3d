/**
 * Structured logs with pino. Anything that can hold a secret is redacted by
 * path, and tokens that look like Gatehouse secrets are scrubbed from messages.
 */
import { pino, type Logger as PinoLogger } from 'pino';
import type { LogLevel } from './config.js';

export type Logger = PinoLogger;

export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-domo-developer-token"]',
  'req.headers["x-csrf-token"]',
  'res.headers["set-cookie"]',
  'password',
  'newPassword',
  'currentPassword',
  'secret',
  'client_secret',
  'clientSecret',
  'token',
  'access_token',
  '*.password',
  '*.secret',
  '*.client_secret',
  '*.clientSecret',
  '*.token',
  '*.access_token',
];

export function createLogger(level: LogLevel, destination?: NodeJS.WritableStream): Logger {
  return pino(
    {
      level,
      base: { pid: process.pid },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination as pino.DestinationStream | undefined,
  );
}

/** A logger that writes nothing; for tests and the CLI's quiet paths. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
