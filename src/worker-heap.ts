/**
 * The V8 heap bound of each serving process (a cluster worker, or the single process), set by
 * design rather than left to V8's defaults.
 *
 * Left alone, V8 sizes the old generation from the machine's memory (about 4 GB on a 24 GB
 * host) and, with a limit that large, lets the heap grow to four times the live data between
 * major collections: a quiet 1M-request run with 100k clients and tokens plateaued at 450–460 MB
 * of RSS per worker although the live heap was about 110 MB. With a limit under 2 GB, V8 also
 * grows the heap by a smaller factor (1.3–2× the live data), so the bound lowers the plateau as
 * well as capping it.
 *
 * The limit is computed from what a worker keeps: the caches at their configured sizes (entries
 * × the heap one entry takes, measured on Node 20; README › Caches and memory at scale), the
 * revoked-token set, the workflow runs it executes at once (each at most
 * GATEHOUSE_WORKFLOW_MAX_RUN_BYTES), what a started worker holds before any request, and an
 * allowance for requests in flight. GATEHOUSE_WORKER_HEAP_MB overrides it (0: V8's default).
 * A worker that outgrows its limit is stopped by V8 and replaced by the primary.
 *
 * The young generation is pinned at Node 20's own 64-bit default (16 MB semi-spaces, three of them
 * counted in V8's heap limit), so that it is part of the documented bound whatever a later V8
 * would derive from the old-space limit.
 */
import type { Config } from './config.js';

const KB = 1024;
const MB = 1024 * 1024;

/** What an idle worker holds after start (measured 44–47 MB of live old space on Node 20, ES256), with a margin. */
export const BASELINE_HEAP_MB = 64;
/** V8 heap per entry of each cache, in bytes (README › Caches and memory at scale). */
export const ENTRY_BYTES = {
  verifiedToken: 1.1 * KB,
  /**
   * 245 bytes measured with 100k clients (bench/client-cache-heap.mjs: the record, its secret hash,
   * the key and lru-cache's slots), rounded up for the clients in a rotation's grace period, whose
   * second secret adds ~0.2 KB.
   */
  client: 0.3 * KB,
  /** Client owners and users' live facts (10,000 entries together, up to 1 KB each). */
  ownerOrUser: 1 * KB,
  developerToken: 0.2 * KB,
  /** One revoked jti in the set with its minute-bucket slot (90 bytes measured), and the Set's growth slack. */
  revokedId: 0.12 * KB,
} as const;
/** Entries of the caches whose size is not configurable (owners and users; developer tokens). */
export const FIXED_CACHE_ENTRIES = 10_000;
/** Revoked, unexpired tokens the bound leaves room for (the set holds every one: it is a correctness set). */
export const REVOKED_ALLOWANCE = 100_000;
/** Requests in flight: bodies, dataset query answers, serialisation. */
export const REQUEST_ALLOWANCE_MB = 64;
/** V8's default largest semi-space on 64-bit Node 20; the young generation takes three of them. */
export const SEMI_SPACE_MB = 16;
/**
 * The limit is the live data the parts above add up to, times this: room for V8 to let garbage
 * pile up between major collections. With the limit at the live estimate itself (1×), a worker
 * whose live heap grew by the 100k-revoked set ran 114 major collections where the empty one ran
 * 3, and bearer throughput fell to 0.81× (README › Scale); V8's own default limit (4 GB here)
 * grows the heap to 4× the live data. Twice the estimate keeps the bound and the collections rare.
 */
export const GC_HEADROOM = 2;
/** The smallest limit accepted in GATEHOUSE_WORKER_HEAP_MB (below it a started worker has no room). */
export const MIN_WORKER_HEAP_MB = 64;

export type WorkerHeapSettings = Pick<
  Config,
  'workerHeapMb' | 'tokenCacheSize' | 'clientCacheSize' | 'workflowConcurrency' | 'workflowMaxRunBytes'
>;

export interface WorkerHeapBound {
  /** `--max-old-space-size`, in MB: every old-generation space (old, code, large objects). */
  oldSpaceMb: number;
  /** `--max-semi-space-size`, in MB. */
  semiSpaceMb: number;
  /** `computed` from the settings, or `configured` by GATEHOUSE_WORKER_HEAP_MB. */
  source: 'computed' | 'configured';
  /** The computed parts of the live estimate in MB, before GC_HEADROOM (also given when configured). */
  parts: { baseline: number; caches: number; revoked: number; workflows: number; requests: number };
}

/** The bound for these settings; undefined when GATEHOUSE_WORKER_HEAP_MB is 0 (V8's own default). */
export function workerHeapBound(settings: WorkerHeapSettings): WorkerHeapBound | undefined {
  if (settings.workerHeapMb === 0) return undefined;
  const caches =
    settings.tokenCacheSize * ENTRY_BYTES.verifiedToken +
    settings.clientCacheSize * ENTRY_BYTES.client +
    FIXED_CACHE_ENTRIES * (ENTRY_BYTES.ownerOrUser + ENTRY_BYTES.developerToken);
  const parts = {
    baseline: BASELINE_HEAP_MB,
    caches: caches / MB,
    revoked: (REVOKED_ALLOWANCE * ENTRY_BYTES.revokedId) / MB,
    workflows: (settings.workflowConcurrency * settings.workflowMaxRunBytes) / MB,
    requests: REQUEST_ALLOWANCE_MB,
  };
  const live = Object.values(parts).reduce((sum, part) => sum + part, 0);
  const computed = Math.ceil(live * GC_HEADROOM);
  return {
    oldSpaceMb: settings.workerHeapMb ?? computed,
    semiSpaceMb: SEMI_SPACE_MB,
    source: settings.workerHeapMb === null ? 'computed' : 'configured',
    parts,
  };
}

const OLD_SPACE_FLAG = /^--max[-_]old[-_]space[-_]size(=|$)/;
const SEMI_SPACE_FLAG = /^--max[-_]semi[-_]space[-_]size(=|$)/;

/**
 * The node flags a worker is started with: the primary's own (`execArgv`, e.g. --cpu-prof) and
 * the bound's, except a flag the operator already gives node (in `execArgv` or NODE_OPTIONS),
 * which wins.
 */
export function workerExecArgv(
  bound: WorkerHeapBound | undefined,
  execArgv: readonly string[],
  nodeOptions = '',
): string[] {
  const given = [...execArgv, ...nodeOptions.split(/\s+/).filter(Boolean)];
  const has = (flag: RegExp) => given.some((arg) => flag.test(arg));
  const added: string[] = [];
  if (bound && !has(OLD_SPACE_FLAG)) added.push(`--max-old-space-size=${bound.oldSpaceMb}`);
  if (bound && !has(SEMI_SPACE_FLAG)) added.push(`--max-semi-space-size=${bound.semiSpaceMb}`);
  return [...execArgv, ...added];
}
