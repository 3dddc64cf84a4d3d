/**
 * Workflow expressions are evaluated on worker threads, never on the event loop that serves
 * HTTP (and runs the engine). A JSONata built-in can run for seconds inside one call
 * (`$pad("", 1e8, "x")`, a backtracking regex), where no timeout inside JSONata can fire, so:
 *
 * - each thread has a heap cap (`resourceLimits`, GATEHOUSE_WORKFLOW_EXPRESSION_HEAP_MB); a
 *   thread that exceeds it is stopped by V8 and the batch fails;
 * - each batch has a wall-clock limit (GATEHOUSE_WORKFLOW_EXPRESSION_TIMEOUT_MS); past it the
 *   thread is terminated and replaced at the next batch;
 * - every value a batch produces is measured in the thread before it is sent back: larger than
 *   GATEHOUSE_WORKFLOW_MAX_VALUE_BYTES of JSON, or nested deeper than GATEHOUSE_MAX_JSON_DEPTH,
 *   and the batch fails naming the limit.
 *
 * One batch is one step's evaluations (a `set` step's values in order, an `http` step's URL,
 * headers and body, a condition, a message), sent as one message with the step's scope. A
 * thread runs one batch at a time (so terminating it fails no other run's batch); further
 * batches wait for a free thread. Threads are started ahead of time (`warm`) and hold no
 * reference on the process while idle.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/** One evaluation of a batch. */
export type Task =
  /** A JSONata expression; with `assign`, the value also becomes `vars[assign]` for the tasks after it. */
  | { kind: 'expression'; source: string; assign?: string }
  /** A template: `{{ … }}` parts replaced (a lone part keeps its type). */
  | { kind: 'template'; source: string }
  /** A JSON value whose strings are templates. */
  | { kind: 'value'; value: unknown };

export type Scope = Record<string, unknown>;

export interface SandboxLimits {
  timeoutMs: number;
  heapMb: number;
  maxValueBytes: number;
  maxDepth: number;
}

/** A batch failed: the expression's own error, or a limit (then `limit` names its setting). */
export class ExpressionError extends Error {
  constructor(
    message: string,
    readonly limit?: string,
  ) {
    super(message);
    this.name = 'ExpressionError';
  }
}

/** Runs in each expression thread (CommonJS, evaluated from this string so no extra file ships). */
const THREAD_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const jsonata = require(workerData.jsonataPath);
const { maxValueBytes, maxDepth } = workerData;
const TEMPLATE_PART = /\\{\\{([\\s\\S]*?)\\}\\}/g;
const compiled = new Map();

class LimitError extends Error {
  constructor(message, limit) { super(message); this.limit = limit; }
}

function compile(source) {
  let expression = compiled.get(source);
  if (!expression) {
    if (compiled.size >= 1000) compiled.clear();
    expression = jsonata(source);
    compiled.set(source, expression);
  }
  return expression;
}

function nestsDeeperThan(text, max) {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}

/** A plain JSON copy of a value (JSONata sequences, undefined → null), within the size and depth limits. */
function measured(value, what) {
  const tooBig = () =>
    new LimitError(what + ' is larger than ' + maxValueBytes + ' bytes of JSON (GATEHOUSE_WORKFLOW_MAX_VALUE_BYTES)', 'GATEHOUSE_WORKFLOW_MAX_VALUE_BYTES');
  // A string is never shorter in UTF-8 than in UTF-16 code units: refuse before copying it.
  if (typeof value === 'string' && value.length > maxValueBytes) throw tooBig();
  let text;
  try {
    text = value === undefined ? 'null' : (JSON.stringify(value) ?? 'null');
  } catch (error) {
    if (error instanceof RangeError) {
      throw new LimitError(what + ' nests deeper than ' + maxDepth + ' levels (GATEHOUSE_MAX_JSON_DEPTH)', 'GATEHOUSE_MAX_JSON_DEPTH');
    }
    throw error;
  }
  if (text.length > maxValueBytes || Buffer.byteLength(text) > maxValueBytes) throw tooBig();
  if (nestsDeeperThan(text, maxDepth)) {
    throw new LimitError(what + ' nests deeper than ' + maxDepth + ' levels (GATEHOUSE_MAX_JSON_DEPTH)', 'GATEHOUSE_MAX_JSON_DEPTH');
  }
  return JSON.parse(text);
}

async function evaluate(source, scope, what) {
  let value;
  try {
    value = await compile(source).evaluate(scope);
  } catch (error) {
    throw new Error('expression "' + source + '" failed: ' + ((error && error.message) || String(error)));
  }
  return measured(value, what);
}

async function renderTemplate(source, scope, what) {
  const whole = /^\\{\\{([\\s\\S]*?)\\}\\}$/.exec(source.trim());
  if (whole && !whole[1].includes('}}')) return evaluate(whole[1].trim(), scope, what);
  let out = '';
  let last = 0;
  for (const match of source.matchAll(TEMPLATE_PART)) {
    out += source.slice(last, match.index);
    const value = await evaluate(match[1].trim(), scope, what);
    out += value === null ? '' : typeof value === 'string' ? value : JSON.stringify(value);
    if (out.length > maxValueBytes) measured(out, what);
    last = match.index + match[0].length;
  }
  return measured(out + source.slice(last), what);
}

async function renderValue(value, scope, what) {
  if (typeof value === 'string') return renderTemplate(value, scope, what);
  if (Array.isArray(value)) {
    const out = [];
    for (const item of value) out.push(await renderValue(item, scope, what));
    return out;
  }
  if (value !== null && typeof value === 'object') {
    const out = {};
    for (const [k, v] of Object.entries(value)) out[k] = await renderValue(v, scope, what);
    return out;
  }
  return value;
}

async function run(scope, tasks) {
  const results = [];
  for (const task of tasks) {
    if (task.kind === 'expression') {
      const what = task.assign !== undefined ? 'variable "' + task.assign + '"' : 'the value of "' + task.source.slice(0, 60) + '"';
      const value = await evaluate(task.source, scope, what);
      if (task.assign !== undefined) scope = { ...scope, vars: { ...scope.vars, [task.assign]: value } };
      results.push(value);
    } else if (task.kind === 'template') {
      results.push(await renderTemplate(task.source, scope, 'the text of "' + task.source.slice(0, 60) + '"'));
    } else {
      results.push(measured(await renderValue(task.value, scope, 'a templated value'), 'the templated value'));
    }
  }
  return results;
}

parentPort.postMessage({ ready: true });
parentPort.on('message', (message) => {
  run(message.scope, message.tasks).then(
    (results) => parentPort.postMessage({ id: message.id, results }),
    (error) => parentPort.postMessage({ id: message.id, error: String((error && error.message) || error), limit: error && error.limit }),
  );
});
`;

interface Job {
  readonly scope: Scope;
  readonly tasks: readonly Task[];
  resolve(results: unknown[]): void;
  reject(error: Error): void;
}

interface Thread {
  readonly worker: Worker;
  /** Started and JSONata loaded: the wall clock of a batch starts only then. */
  ready: boolean;
  /** The batch it runs (one at a time), with its wall-clock timer once the thread is ready. */
  job: { id: number; job: Job; timer: NodeJS.Timeout | undefined } | undefined;
}

const jsonataPath = createRequire(import.meta.url).resolve('jsonata');

export class ExpressionSandbox {
  private readonly threads: Array<Thread | undefined>;
  private readonly queue: Job[] = [];
  private nextId = 1;
  private closed = false;

  constructor(
    private readonly limits: SandboxLimits,
    size = 2,
  ) {
    this.threads = Array.from({ length: Math.max(1, Math.floor(size)) }, () => undefined);
  }

  /** Starts every thread now, so the first step pays no start-up. */
  warm(): void {
    if (this.closed) return;
    for (let i = 0; i < this.threads.length; i++) this.threads[i] ??= this.startThread(i);
  }

  /**
   * Evaluates `tasks` in order against `scope`; resolves with one result per task. Aborting
   * `signal` (a cancel, the engine stopping) fails the batch at once, stopping its thread.
   */
  run(scope: Scope, tasks: readonly Task[], signal?: AbortSignal): Promise<unknown[]> {
    if (this.closed) return Promise.reject(new ExpressionError('the expression sandbox is closed'));
    if (signal?.aborted) return Promise.reject(new ExpressionError('canceled'));
    return new Promise((resolve, reject) => {
      const onAbort = () => this.abort(job);
      const job: Job = {
        scope,
        tasks,
        resolve: (results) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(results);
        },
        reject: (error) => {
          signal?.removeEventListener('abort', onAbort);
          reject(error);
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.queue.push(job);
      this.dispatch();
    });
  }

  /** Stops the threads; batches queued or in flight fail. */
  async close(): Promise<void> {
    this.closed = true;
    const error = new ExpressionError('the expression sandbox is closed');
    for (const job of this.queue.splice(0)) job.reject(error);
    const threads = this.threads.filter((t): t is Thread => t !== undefined);
    this.threads.fill(undefined);
    for (const thread of threads) this.settle(thread, error);
    await Promise.all(threads.map((t) => t.worker.terminate()));
  }

  private abort(job: Job): void {
    const queued = this.queue.indexOf(job);
    if (queued !== -1) {
      this.queue.splice(queued, 1);
      job.reject(new ExpressionError('canceled'));
      return;
    }
    const slot = this.threads.findIndex((t) => t?.job?.job === job);
    if (slot !== -1) this.retire(slot, this.threads[slot]!, new ExpressionError('canceled'));
  }

  private dispatch(): void {
    while (this.queue.length > 0 && !this.closed) {
      const slot = this.threads.findIndex((t) => t === undefined || t.job === undefined);
      if (slot === -1) return;
      const thread = this.threads[slot] ?? this.startThread(slot);
      const job = this.queue.shift()!;
      const id = this.nextId++;
      try {
        thread.worker.postMessage({ id, scope: job.scope, tasks: job.tasks });
      } catch (error) {
        job.reject(new ExpressionError(`the expressions could not be sent: ${(error as Error).message}`));
        continue;
      }
      thread.job = { id, job, timer: thread.ready ? this.startClock(slot, thread) : undefined };
      thread.worker.ref();
    }
  }

  /** The wall-clock limit of the thread's batch: past it the thread is terminated. */
  private startClock(slot: number, thread: Thread): NodeJS.Timeout {
    return setTimeout(() => {
      this.retire(
        slot,
        thread,
        new ExpressionError(
          `expressions ran longer than ${this.limits.timeoutMs} ms (GATEHOUSE_WORKFLOW_EXPRESSION_TIMEOUT_MS)`,
          'GATEHOUSE_WORKFLOW_EXPRESSION_TIMEOUT_MS',
        ),
      );
    }, this.limits.timeoutMs);
  }

  private startThread(slot: number): Thread {
    const worker = new Worker(THREAD_SOURCE, {
      eval: true,
      workerData: { jsonataPath, maxValueBytes: this.limits.maxValueBytes, maxDepth: this.limits.maxDepth },
      resourceLimits: {
        maxOldGenerationSizeMb: this.limits.heapMb,
        maxYoungGenerationSizeMb: Math.max(4, Math.min(32, Math.floor(this.limits.heapMb / 4))),
      },
      stdout: false,
      stderr: false,
    });
    worker.unref();
    const thread: Thread = { worker, ready: false, job: undefined };
    this.threads[slot] = thread;
    worker.on(
      'message',
      (message: { ready?: true; id: number; results?: unknown[]; error?: string; limit?: string }) => {
        if (message.ready) {
          thread.ready = true;
          if (thread.job && thread.job.timer === undefined) thread.job.timer = this.startClock(slot, thread);
          return;
        }
        const current = thread.job;
        if (!current || current.id !== message.id) return;
        clearTimeout(current.timer);
        thread.job = undefined;
        worker.unref();
        if (message.results) current.job.resolve(message.results);
        else current.job.reject(new ExpressionError(message.error ?? 'expression failed', message.limit));
        this.dispatch();
      },
    );
    worker.on('error', (error: Error & { code?: string }) => {
      const reason =
        error.code === 'ERR_WORKER_OUT_OF_MEMORY'
          ? new ExpressionError(
              `expressions used more than ${this.limits.heapMb} MB of memory (GATEHOUSE_WORKFLOW_EXPRESSION_HEAP_MB)`,
              'GATEHOUSE_WORKFLOW_EXPRESSION_HEAP_MB',
            )
          : new ExpressionError(`the expression thread failed: ${error.message}`);
      this.retire(slot, thread, reason);
    });
    worker.on('exit', (code) =>
      this.retire(slot, thread, new ExpressionError(`the expression thread stopped (exit code ${code})`)),
    );
    return thread;
  }

  /** Fails the thread's batch, stops the thread and starts its replacement. */
  private retire(slot: number, thread: Thread, reason: ExpressionError): void {
    this.settle(thread, reason);
    if (this.threads[slot] === thread) {
      this.threads[slot] = undefined;
      void thread.worker.terminate();
      if (!this.closed && thread.ready) this.startThread(slot);
    }
    this.dispatch();
  }

  private settle(thread: Thread, reason: ExpressionError): void {
    const current = thread.job;
    if (!current) return;
    clearTimeout(current.timer);
    thread.job = undefined;
    current.job.reject(reason);
  }
}
