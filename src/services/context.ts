import type { Clock } from '../clock.js';
import type { Config } from '../config.js';
import type { SecretKeyring } from '../crypto.js';
import type { Logger } from '../logger.js';
import type { Store } from '../store/index.js';

/** What every service is built from. */
export interface ServiceContext {
  readonly store: Store;
  readonly config: Config;
  readonly clock: Clock;
  readonly keyring: SecretKeyring;
  readonly log: Logger;
}

/** Who is doing something; recorded in the audit log with every write. */
export type Actor =
  | { readonly type: 'user'; readonly userId: number; readonly label?: string; readonly ip?: string }
  | { readonly type: 'client'; readonly clientId: string; readonly userId: number; readonly ip?: string }
  | { readonly type: 'cli' }
  | { readonly type: 'system' };

export const CLI_ACTOR: Actor = Object.freeze({ type: 'cli' });
export const SYSTEM_ACTOR: Actor = Object.freeze({ type: 'system' });
