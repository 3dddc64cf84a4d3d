/**
 * PostgreSQL `LISTEN` for cache-epoch changes made by other nodes.
 *
 * A bump issues `pg_notify('gatehouse_cache_epochs', '<schema>|<origin>|<names>')` inside its
 * transaction; PostgreSQL delivers it to every listener when (and only if) that transaction
 * commits. Each serving process keeps one dedicated connection (outside the pool) listening on
 * the channel and drops the named caches when a notification for its own schema arrives, so
 * instances sharing a database in different schemas (GATEHOUSE_DATABASE_SCHEMA) leave each other
 * alone. The poll stays the safety net: a lost connection is logged, the poll carries on alone,
 * and the listener reconnects with a doubling delay; once back it asks for a poll at once, since
 * notifications sent while it was away are lost.
 */
import type pg from 'pg';
import type { Logger } from '../logger.js';

export const NOTIFY_CHANNEL = 'gatehouse_cache_epochs';

const FIRST_RETRY_MS = 200;
const MAX_RETRY_MS = 10_000;

export type ListenLog = Pick<Logger, 'warn' | 'info' | 'debug'>;

/**
 * A change to some entries of one cache epoch's caches: the keys that changed, and the epoch's
 * version before (`from`) and after (`to`) this change alone. A process that knew `from` forgets
 * those keys and now knows `to`; one that did not (it missed a change in between) drops everything.
 */
export interface KeyedChange<N extends string = string> {
  name: N;
  from: number;
  to: number;
  keys: string[];
}

/** What a key must look like to travel in a payload (a client ID does); any other key makes its change unkeyed. */
export const PAYLOAD_KEY = /^[\w.-]{1,100}$/;
/**
 * The longest payload tail that carries keys: PostgreSQL refuses a NOTIFY payload of 8000 bytes
 * or more, and the schema name (up to 63 bytes) comes before the tail. Past it, the keys are left
 * out and the receivers drop the named caches whole.
 */
export const MAX_KEYED_TAIL = 7_000;

/**
 * The payload a bump sends (the schema is prepended in SQL, as `current_schema()`). The bump's
 * time rides on the origin (`<origin>@<epoch ms>`), so a node that reads the origin whole still
 * sees a foreign origin and drops the named caches; the receiver measures the lag with it.
 * A keyed change adds `<name>:<from>:<to>:<key>;<key>…` after its plain name, which a node of an
 * earlier version reads as a name no cache has (it drops the plain name's caches whole).
 */
export function notifyPayloadTail(
  origin: string,
  names: readonly string[],
  at = Date.now(),
  keyed: readonly KeyedChange[] = [],
): string {
  const plain = `|${origin}@${at}|${names.join(',')}`;
  const details = keyed
    .filter((change) => names.includes(change.name) && change.keys.every((key) => PAYLOAD_KEY.test(key)))
    .map((change) => `,${change.name}:${change.from}:${change.to}:${change.keys.join(';')}`)
    .join('');
  const tail = plain + details;
  return tail.length > MAX_KEYED_TAIL ? plain : tail;
}

/** One `<name>:<from>:<to>:<keys>` entry; undefined when it is not one. */
function parseKeyed(entry: string): KeyedChange | undefined {
  const [name, from, to, keys, ...rest] = entry.split(':');
  if (rest.length > 0 || !name || !keys || !/^\d+$/.test(from ?? '') || !/^\d+$/.test(to ?? ''))
    return undefined;
  return { name, from: Number(from), to: Number(to), keys: keys.split(';') };
}

/**
 * `<schema>|<origin>[@<ms>]|<names>` → its parts; undefined for anything else. `names` holds every
 * name changed; `keyed`, when the payload carries keys, the keyed changes among them. An entry
 * that looks keyed but does not read as one counts as its plain name (its caches are dropped).
 */
export function parseNotifyPayload(
  payload: string,
): { schema: string; origin: string; names: string[]; bumpedAt?: number; keyed?: KeyedChange[] } | undefined {
  const last = payload.lastIndexOf('|');
  const middle = last > 0 ? payload.lastIndexOf('|', last - 1) : -1;
  if (middle < 0) return undefined;
  const entries = payload.slice(last + 1);
  const stamped = payload.slice(middle + 1, last);
  const at = stamped.lastIndexOf('@');
  const bumpedAt = at < 0 ? Number.NaN : Number(stamped.slice(at + 1));
  const names = new Set<string>();
  const keyed: KeyedChange[] = [];
  for (const entry of entries === '' ? [] : entries.split(',')) {
    const colon = entry.indexOf(':');
    if (colon < 0) {
      names.add(entry);
      continue;
    }
    const change = parseKeyed(entry);
    names.add(change?.name ?? entry.slice(0, colon));
    if (change) keyed.push(change);
  }
  return {
    schema: payload.slice(0, middle),
    origin: Number.isFinite(bumpedAt) ? stamped.slice(0, at) : stamped,
    names: [...names],
    ...(Number.isFinite(bumpedAt) ? { bumpedAt } : {}),
    ...(keyed.length > 0 ? { keyed } : {}),
  };
}

export interface ListenerHandlers {
  /**
   * A change committed by another process (`origin`) in this schema, bumped at `bumpedAt` (epoch
   * ms); `keyed`: the changes among `names` that name their keys.
   */
  changed(origin: string, names: string[], bumpedAt?: number, keyed?: KeyedChange[]): void;
  /** Listening (again): changes sent while the connection was away were missed. */
  listening(): void;
}

export class EpochListener {
  private current: pg.Client | undefined;
  private schema: string | undefined;
  private pid: number | undefined;
  private state: 'connecting' | 'listening' | 'lost' | 'stopped' = 'connecting';
  private failures = 0;
  private retry: NodeJS.Timeout | undefined;

  constructor(
    private readonly connect: () => Promise<pg.Client>,
    private readonly handlers: ListenerHandlers,
    private readonly log: ListenLog,
  ) {}

  start(): void {
    void this.open();
  }

  /** True while the listening connection is up. */
  get listening(): boolean {
    return this.state === 'listening';
  }

  /** The PostgreSQL backend pid of the listening connection (tests end it to simulate a loss). */
  get backendPid(): number | undefined {
    return this.state === 'listening' ? this.pid : undefined;
  }

  async stop(): Promise<void> {
    this.state = 'stopped';
    if (this.retry) clearTimeout(this.retry);
    this.retry = undefined;
    const client = this.current;
    this.current = undefined;
    await client?.end().catch(() => {});
  }

  private async open(): Promise<void> {
    this.retry = undefined;
    let client: pg.Client;
    try {
      client = await this.connect();
    } catch (error) {
      this.lose(undefined, error);
      return;
    }
    if (this.state === 'stopped') {
      await client.end().catch(() => {});
      return;
    }
    this.current = client;
    // Listeners stay attached for the client's life: an 'error' without one would crash the process.
    client.on('error', (error) => this.lose(client, error));
    client.on('end', () => this.lose(client, new Error('the connection ended')));
    client.on('notification', (message) => {
      if (message.channel !== NOTIFY_CHANNEL || message.payload === undefined) return;
      const parsed = parseNotifyPayload(message.payload);
      if (!parsed || parsed.schema !== this.schema) return;
      this.handlers.changed(parsed.origin, parsed.names, parsed.bumpedAt, parsed.keyed);
    });
    try {
      const { rows } = await client.query<{ schema: string; pid: number }>(
        'select current_schema() as schema, pg_backend_pid() as pid',
      );
      this.schema = rows[0]?.schema;
      this.pid = rows[0]?.pid;
      await client.query(`listen ${NOTIFY_CHANNEL}`);
    } catch (error) {
      this.lose(client, error);
      return;
    }
    if (this.current !== client) return;
    const recovered = this.failures > 0;
    this.failures = 0;
    this.state = 'listening';
    if (recovered) this.log.info({ schema: this.schema }, 'listening for cache changes again');
    else this.log.debug({ schema: this.schema }, 'listening for cache changes');
    this.handlers.listening();
  }

  /** The connection failed (or never came up): poll alone, reconnect after a doubling delay. */
  private lose(client: pg.Client | undefined, error: unknown): void {
    if (this.state === 'stopped') return;
    if (client !== undefined && client !== this.current) return; // that loss was handled already
    this.current = undefined;
    client?.end().catch(() => {});
    this.failures += 1;
    this.state = 'lost';
    const delay = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** (this.failures - 1));
    this.log.warn(
      { err: error, retryInMs: delay },
      'lost the connection that listens for cache changes from other nodes; relying on the cache-epoch poll until it is back',
    );
    this.retry = setTimeout(() => void this.open(), delay);
    this.retry.unref();
  }
}
