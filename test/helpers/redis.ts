/**
 * Redis for tests: GATEHOUSE_TEST_REDIS_URL (e.g. redis://127.0.0.1:6379). Without it the
 * Redis cases are skipped with a printed notice; with CI=true they must run. Every test
 * gets its own key prefix, so parallel runs (and other users of the server) do not meet.
 */
import crypto from 'node:crypto';

export const REDIS_URL = process.env.GATEHOUSE_TEST_REDIS_URL || undefined;
const IN_CI = process.env.CI === 'true';

let noticePrinted = false;

/** True when the Redis cases cannot run here (and may be skipped). */
export function skipRedis(): boolean {
  if (REDIS_URL !== undefined || IN_CI) return false;
  if (!noticePrinted) {
    noticePrinted = true;
    process.stderr.write(
      '\n[gatehouse tests] GATEHOUSE_TEST_REDIS_URL is not set: Redis throttle tests are SKIPPED. ' +
        'Set it (e.g. redis://127.0.0.1:6379) to run them.\n',
    );
  }
  return true;
}

export function redisUrl(): string {
  if (REDIS_URL === undefined) {
    throw new Error('CI=true but GATEHOUSE_TEST_REDIS_URL is not set: the Redis tests must run in CI');
  }
  return REDIS_URL;
}

/** A key prefix no other test uses. */
export function freshRedisPrefix(): string {
  return `gatehouse-test:${crypto.randomBytes(6).toString('hex')}:`;
}
