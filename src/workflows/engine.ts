/**
 * The durable workflow engine.
 *
 * - An instance is claimed with a lease (`lease_owner`, `lease_expires_at`) by a
 *   compare-and-set update, so two engines on one store never hold it at once; the
 *   lease is renewed while a step runs, and a dead engine's lease simply expires and
 *   another engine claims the instance.
 * - After each step the new state (program counter, variables, outputs, status)
 *   and the step's log line are written in one transaction, fenced by the lease:
 *   an engine that lost its lease commits nothing. A run resumes from the last
 *   committed step; a step in flight at a crash runs again (at-least-once).
 * - At most `concurrency` instances run at once per engine; the rest stay QUEUED.
 * - Cancel is honoured at the next step boundary, and aborts an in-flight HTTP call.
 * - A `delay` step stores its due time and releases the lease, so it survives restarts.
 * - Expressions run on the sandbox's threads (time and memory limits), never on this event
 *   loop. Every variable, output and log line, and the run's whole state, have a size cap:
 *   a step that exceeds one ends the run FAILED naming the step and the limit, and the
 *   oversized state is not stored.
 */
import crypto from 'node:crypto';
import { type ExpressionBuilder, sql } from 'kysely';
import { DatabaseBusyError, isSqliteBusy } from '../errors.js';
import { countWorkflowRunFinished, workflowStepDuration } from '../metrics.js';
import type { ServiceContext } from '../services/context.js';
import type { Database, WorkflowInstanceStatus } from '../store/schema/index.js';
import { compile, type Instruction, type WorkflowDefinition } from './definition.js';
import { isTruthy } from './expressions.js';
import { type HttpResult, sendOnce, StepError } from './http.js';
import { ExpressionSandbox, type Scope, type Task } from './sandbox.js';

export interface EngineOptions {
  /** Names this engine in `lease_owner`; random by default. */
  nodeId?: string;
  /** Instances run at once; defaults to config.workflowConcurrency. */
  concurrency?: number;
  /** Lease length; renewed every third of it while a step runs. */
  leaseMs?: number;
  /** How often to look for runnable instances. */
  pollMs?: number;
  /** Waits between HTTP retries; injectable so tests need not wait. */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** Where expressions run; by default a pool of its own, closed when the engine stops. */
  sandbox?: ExpressionSandbox;
}

type AbortReason = 'cancel' | 'kill' | 'stop' | 'lease_lost';

interface Running {
  controller: AbortController;
  done: Promise<void>;
}

interface InstanceState {
  id: string;
  workflowId: string;
  version: number;
  pc: number;
  stepCount: number;
  input: unknown;
  variables: Record<string, unknown>;
  outputs: Record<string, unknown>;
  /** JSON bytes of the input and of the log lines written so far (the rest of the run's state is measured per step). */
  fixedBytes: number;
}

interface StepOutcome {
  pc: number;
  status: WorkflowInstanceStatus;
  error: string | null;
  dueAt: string | null;
  log: { status: 'ok' | 'error' | 'canceled'; output: unknown; message: string | null; error: string | null };
}

const RUNNABLE: WorkflowInstanceStatus[] = ['QUEUED', 'IN_PROGRESS'];
const SUMMARY_CHARS = 1000;
/** Expression threads per engine: a step that runs into the time limit holds one for that long, not the others. */
const SANDBOX_THREADS = 2;

const jsonBytes = (text: string | null): number => (text === null ? 0 : Buffer.byteLength(text));

export function defaultSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

function summarise(value: unknown): string | null {
  if (value === undefined) return null;
  const text = JSON.stringify(value) ?? 'null';
  return text.length > SUMMARY_CHARS ? `${text.slice(0, SUMMARY_CHARS)}…` : text;
}

/** JSON bytes a step's log line adds to the run. */
function logLineBytes(outcome: StepOutcome): number {
  const { message, error, output } = outcome.log;
  return jsonBytes(message) + jsonBytes(error) + jsonBytes(summarise(output));
}

/** SQLite's lock not had within the store's lock wait, or a PostgreSQL serialization failure or deadlock. */
function isBusy(error: unknown): boolean {
  if (error instanceof DatabaseBusyError || isSqliteBusy(error)) return true;
  const code = (error as { code?: unknown } | null)?.code;
  return code === '40001' || code === '40P01';
}

/** Resolves after the event loop has had a turn (I/O callbacks included). */
function nextMacrotask(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export class WorkflowEngine {
  readonly nodeId: string;
  private readonly concurrency: number;
  private readonly leaseMs: number;
  private readonly pollMs: number;
  private readonly sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  private readonly running = new Map<string, Running>();
  private readonly programs = new Map<string, Instruction[]>();
  private timer: NodeJS.Timeout | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private state: 'idle' | 'started' | 'stopped' | 'killed' = 'idle';
  private ticking: Promise<number> | undefined;
  private readonly sandbox: ExpressionSandbox;
  private readonly ownsSandbox: boolean;

  constructor(
    private readonly ctx: ServiceContext,
    options: EngineOptions = {},
  ) {
    this.nodeId = options.nodeId ?? `${process.pid}-${crypto.randomBytes(4).toString('hex')}`;
    this.concurrency = options.concurrency ?? ctx.config.workflowConcurrency;
    this.leaseMs = options.leaseMs ?? 30_000;
    this.pollMs = options.pollMs ?? 1000;
    this.sleep = options.sleep ?? defaultSleep;
    const { config } = ctx;
    this.ownsSandbox = options.sandbox === undefined;
    this.sandbox =
      options.sandbox ??
      new ExpressionSandbox(
        {
          timeoutMs: config.workflowExpressionTimeoutMs,
          heapMb: config.workflowExpressionHeapMb,
          maxValueBytes: config.workflowMaxValueBytes,
          maxDepth: config.maxJsonDepth,
        },
        Math.min(this.concurrency, SANDBOX_THREADS),
      );
  }

  private get db() {
    return this.ctx.store.db;
  }

  private now(): Date {
    return this.ctx.clock.now();
  }

  private leaseUntil(): string {
    return new Date(this.now().getTime() + this.leaseMs).toISOString();
  }

  /** Starts polling for runnable instances. */
  start(): void {
    if (this.state !== 'idle') return;
    this.state = 'started';
    this.sandbox.warm();
    const loop = () => {
      if (this.state !== 'started') return;
      this.tick()
        .catch((error: unknown) => this.ctx.log.error({ err: error }, 'workflow engine: poll failed'))
        .finally(() => {
          if (this.state === 'started') this.timer = setTimeout(loop, this.pollMs);
        });
    };
    this.timer = setTimeout(loop, 0);
    this.heartbeat = setInterval(() => void this.renewLeases(), Math.max(10, Math.floor(this.leaseMs / 3)));
  }

  /** Asks for a poll now (after an instance was queued in this process). */
  poke(): void {
    if (this.state !== 'started') return;
    void this.tick().catch((error: unknown) =>
      this.ctx.log.error({ err: error }, 'workflow engine: poll failed'),
    );
  }

  /**
   * Graceful stop: no new claims; an in-flight step is abandoned uncommitted and its
   * lease released at once, so another node resumes the run from the last committed step.
   */
  async stop(): Promise<void> {
    if (this.state === 'stopped' || this.state === 'killed') return;
    this.state = 'stopped';
    this.clearTimers();
    for (const run of this.running.values()) run.controller.abort('stop' satisfies AbortReason);
    await Promise.allSettled([...this.running.values()].map((r) => r.done));
    if (this.ownsSandbox) await this.sandbox.close();
    await this.db
      .updateTable('workflow_instances')
      .set({ lease_owner: null, lease_expires_at: null })
      .where('lease_owner', '=', this.nodeId)
      .execute()
      .catch(() => {});
  }

  /** Simulates a crash: stops at once, commits nothing more, releases no lease. */
  kill(): void {
    this.state = 'killed';
    this.clearTimers();
    for (const run of this.running.values()) run.controller.abort('kill' satisfies AbortReason);
    if (this.ownsSandbox) void this.sandbox.close();
  }

  /** Resolves when no instance is running in this engine (tests). */
  async idle(): Promise<void> {
    while (this.running.size > 0 || this.ticking) {
      await Promise.allSettled([...this.running.values()].map((r) => r.done));
      if (this.ticking) await this.ticking.catch(() => 0);
    }
  }

  /** Number of instances this engine is running now. */
  get active(): number {
    return this.running.size;
  }

  /** Aborts the in-flight step of an instance running here (cancel from this process). */
  cancelLocal(instanceId: string): void {
    this.running.get(instanceId)?.controller.abort('cancel' satisfies AbortReason);
  }

  /** Claims runnable instances up to the free slots and starts them; returns how many. */
  tick(): Promise<number> {
    if (this.ticking) return this.ticking;
    this.ticking = this.claimAndRun().finally(() => {
      this.ticking = undefined;
    });
    return this.ticking;
  }

  private clearTimers(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.timer = undefined;
    this.heartbeat = undefined;
  }

  private canRun(): boolean {
    return this.state === 'started' || this.state === 'idle';
  }

  private async claimAndRun(): Promise<number> {
    let claimed = 0;
    while (this.canRun() && this.running.size < this.concurrency) {
      const now = this.now().toISOString();
      const candidates = await this.claimable(now, this.concurrency - this.running.size + 4);
      if (candidates.length === 0) break;
      let got = 0;
      for (const id of candidates) {
        if (!this.canRun() || this.running.size >= this.concurrency) break;
        if (this.running.has(id)) continue;
        if (await this.claim(id)) {
          got++;
          claimed++;
          this.launch(id);
        }
      }
      if (got === 0) break;
    }
    return claimed;
  }

  /**
   * Up to `limit` runs that can be claimed at `now`, oldest first, read from two partial indexes
   * (migration 005) so that runs waiting on a delay cost nothing until they are due:
   *   - ready runs (queued, or in progress with no delay: running elsewhere or left by a stopped
   *     engine) in FIFO order from workflow_instances_ready_idx (created_at, id); only the few
   *     held by a live lease are read and skipped;
   *   - delayed runs whose due time has come, from workflow_instances_due_idx (due_at), a range
   *     that ends at `now`.
   * Plans: SQLite `SEARCH workflow_instances USING INDEX workflow_instances_ready_idx` / `SEARCH
   * … USING INDEX workflow_instances_due_idx (due_at<?)`; PostgreSQL `Index Scan using
   * workflow_instances_ready_idx` / `Index Scan using workflow_instances_due_idx, Index Cond: due_at <= …`.
   * The status tests are literal SQL, the same text as the indexes' predicates: SQLite uses a
   * partial index only when the query repeats its terms (a bound parameter does not count).
   * The ready query is plain SQL because SQLite must be told the index (`indexed by`), which
   * Kysely's builder cannot say.
   * Before, one query took `status in (…)` from the (status, created_at) index and read every
   * waiting run on every poll (22.6 ms at 100k waiting runs).
   */
  private async claimable(now: string, limit: number): Promise<string[]> {
    const leaseFree = (eb: ExpressionBuilder<Database, 'workflow_instances'>) =>
      eb.or([eb('lease_expires_at', 'is', null), eb('lease_expires_at', '<', now)]);
    // SQLite prefers (status, created_at) for the `status in (…)` term and then reads every
    // waiting run and sorts (it cannot tell that the partial index is small), so it is named.
    const table =
      this.ctx.store.dialect === 'sqlite'
        ? sql`workflow_instances indexed by workflow_instances_ready_idx`
        : sql`workflow_instances`;
    const ready = (
      await sql<{ id: string; created_at: string }>`select id, created_at from ${table}
        where status in ('QUEUED', 'IN_PROGRESS') and due_at is null
          and (lease_expires_at is null or lease_expires_at < ${now})
        order by created_at, id limit ${limit}`.execute(this.db)
    ).rows;
    const due = await this.db
      .selectFrom('workflow_instances')
      .select(['id', 'created_at'])
      .where(sql<boolean>`status = 'IN_PROGRESS'`)
      .where('due_at', '<=', now)
      .where(leaseFree)
      .orderBy('due_at')
      .limit(limit)
      .execute();
    return [...ready, ...due]
      .sort((a, b) =>
        a.created_at === b.created_at ? (a.id < b.id ? -1 : 1) : a.created_at < b.created_at ? -1 : 1,
      )
      .slice(0, limit)
      .map((row) => row.id);
  }

  private async claim(id: string): Promise<boolean> {
    const now = this.now().toISOString();
    try {
      const result = await this.db
        .updateTable('workflow_instances')
        .set((eb) => ({
          lease_owner: this.nodeId,
          lease_expires_at: this.leaseUntil(),
          status: 'IN_PROGRESS',
          started_at: eb.fn.coalesce('started_at', eb.val(now)),
          updated_at: now,
        }))
        .where('id', '=', id)
        .where('status', 'in', RUNNABLE)
        .where((eb) => eb.or([eb('due_at', 'is', null), eb('due_at', '<=', now)]))
        .where((eb) => eb.or([eb('lease_expires_at', 'is', null), eb('lease_expires_at', '<', now)]))
        .executeTakeFirst();
      return Number(result.numUpdatedRows) === 1;
    } catch (error) {
      if (isBusy(error)) return false;
      throw error;
    }
  }

  private launch(id: string): void {
    const controller = new AbortController();
    const run: Running = { controller, done: Promise.resolve() };
    this.running.set(id, run);
    run.done = this.runInstance(id, controller.signal)
      .catch((error: unknown) =>
        this.ctx.log.error({ err: error, instance: id }, 'workflow engine: run failed'),
      )
      .finally(() => {
        this.running.delete(id);
        if (this.state === 'started') this.poke();
      });
  }

  private async renewLeases(): Promise<void> {
    if (this.state !== 'started' || this.running.size === 0) return;
    const ids = [...this.running.keys()];
    try {
      await this.db
        .updateTable('workflow_instances')
        .set({ lease_expires_at: this.leaseUntil() })
        .where('id', 'in', ids)
        .where('lease_owner', '=', this.nodeId)
        .execute();
      // A cancel asked for on another node, or a lease taken over: abort the in-flight step.
      const rows = await this.db
        .selectFrom('workflow_instances')
        .select(['id', 'lease_owner', 'cancel_requested'])
        .where('id', 'in', ids)
        .execute();
      for (const row of rows) {
        const run = this.running.get(row.id);
        if (!run) continue;
        if (row.lease_owner !== this.nodeId) run.controller.abort('lease_lost' satisfies AbortReason);
        else if (row.cancel_requested === 1) run.controller.abort('cancel' satisfies AbortReason);
      }
    } catch (error) {
      this.ctx.log.warn({ err: error }, 'workflow engine: lease renewal failed');
    }
  }

  private async program(workflowId: string, version: number): Promise<Instruction[]> {
    const key = `${workflowId}:${version}`;
    let program = this.programs.get(key);
    if (!program) {
      const row = await this.db
        .selectFrom('workflow_versions')
        .select('definition')
        .where('workflow_id', '=', workflowId)
        .where('version', '=', version)
        .executeTakeFirstOrThrow();
      program = compile(JSON.parse(row.definition) as WorkflowDefinition);
      this.programs.set(key, program);
    }
    return program;
  }

  private async runInstance(id: string, signal: AbortSignal): Promise<void> {
    const row = await this.db
      .selectFrom('workflow_instances')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    if (!row || row.lease_owner !== this.nodeId) return;
    const state: InstanceState = {
      id,
      workflowId: row.workflow_id,
      version: row.version,
      pc: row.pc,
      stepCount: row.step_count,
      input: JSON.parse(row.input) as unknown,
      variables: JSON.parse(row.variables) as Record<string, unknown>,
      outputs: JSON.parse(row.outputs) as Record<string, unknown>,
      fixedBytes: jsonBytes(row.input) + (await this.loggedBytes(id)),
    };
    const program = await this.program(state.workflowId, state.version);
    for (;;) {
      // On SQLite every await here resolves at once (microtasks), so without this a backlog of
      // runs would be worked through without ever letting the event loop serve HTTP (the
      // benchmark saw requests wait over 10 s while runs were being started under load).
      await nextMacrotask();
      if (signal.aborted && signal.reason !== 'cancel') return;
      const flags = await this.db
        .selectFrom('workflow_instances')
        .select(['cancel_requested', 'lease_owner'])
        .where('id', '=', id)
        .executeTakeFirst();
      if (!flags || flags.lease_owner !== this.nodeId) return;
      if (flags.cancel_requested === 1 || signal.reason === 'cancel') {
        await this.finish(state, 'CANCELED', null);
        return;
      }
      while (program[state.pc]?.op === 'jump') state.pc = (program[state.pc] as { to: number }).to;
      const instruction = program[state.pc];
      if (!instruction) {
        await this.finish(state, 'COMPLETED', null);
        return;
      }
      const startedAt = this.now();
      const before = { variables: state.variables, outputs: state.outputs };
      let outcome = await this.execute(instruction, state, signal);
      if (signal.aborted && signal.reason !== 'cancel') return;
      const size = this.measure(state, outcome);
      if (size.failure !== undefined) {
        // Nothing of the oversized step is stored: the state stays as it was before it.
        state.variables = before.variables;
        state.outputs = before.outputs;
        outcome = this.failed(instruction, state, size.failure);
        size.variables = JSON.stringify(state.variables);
        size.outputs = JSON.stringify(state.outputs);
      }
      const committed = await this.commit(state, instruction, outcome, startedAt, size);
      if (!committed || outcome.status !== 'IN_PROGRESS' || outcome.dueAt !== null) return;
    }
  }

  private scope(state: InstanceState): Scope {
    return {
      input: state.input,
      vars: state.variables,
      outputs: state.outputs,
      instance: { id: state.id, workflowId: state.workflowId, version: state.version },
    };
  }

  /** JSON bytes of the log lines a run has written (for the run-state cap when a run resumes). */
  private async loggedBytes(id: string): Promise<number> {
    const rows = await this.db
      .selectFrom('workflow_instance_logs')
      .select(['message', 'error', 'output'])
      .where('instance_id', '=', id)
      .execute();
    let total = 0;
    for (const row of rows) total += jsonBytes(row.message) + jsonBytes(row.error) + jsonBytes(row.output);
    return total;
  }

  /** Evaluates one step's expressions on the sandbox (one message); a cancel or stop aborts them. */
  private evaluate(state: InstanceState, tasks: Task[], signal: AbortSignal): Promise<unknown[]> {
    return this.sandbox.run(this.scope(state), tasks, signal);
  }

  private failed(instruction: Instruction, state: InstanceState, message: string): StepOutcome {
    const step = instruction.op === 'jump' ? undefined : instruction.step;
    const failure = `step ${step?.id ?? state.pc}: ${message}`;
    return {
      pc: state.pc,
      status: 'FAILED',
      error: failure,
      dueAt: null,
      log: { status: 'error', output: null, message: null, error: message },
    };
  }

  /**
   * The step's state as JSON, and whether it breaks a size cap: one output or log line over
   * GATEHOUSE_WORKFLOW_MAX_VALUE_BYTES, or the run's whole state (input, variables, outputs
   * and every log line) over GATEHOUSE_WORKFLOW_MAX_RUN_BYTES.
   */
  private measure(
    state: InstanceState,
    outcome: StepOutcome,
  ): { variables: string; outputs: string; failure?: string } {
    const { workflowMaxValueBytes: maxValue, workflowMaxRunBytes: maxRun } = this.ctx.config;
    const variables = JSON.stringify(state.variables);
    const outputs = JSON.stringify(state.outputs);
    const message = outcome.log.message;
    if (message !== null && jsonBytes(message) > maxValue) {
      return {
        variables,
        outputs,
        failure: `the log line is larger than ${maxValue} bytes (GATEHOUSE_WORKFLOW_MAX_VALUE_BYTES)`,
      };
    }
    const total = state.fixedBytes + jsonBytes(variables) + jsonBytes(outputs) + logLineBytes(outcome);
    if (total > maxRun) {
      return {
        variables,
        outputs,
        failure: `the run's state would be ${total} bytes, more than ${maxRun} (GATEHOUSE_WORKFLOW_MAX_RUN_BYTES)`,
      };
    }
    return { variables, outputs };
  }

  private async execute(
    instruction: Instruction,
    state: InstanceState,
    signal: AbortSignal,
  ): Promise<StepOutcome> {
    const next = state.pc + 1;
    const ok = (output: unknown, message: string | null = null, pc = next): StepOutcome => ({
      pc,
      status: 'IN_PROGRESS',
      error: null,
      dueAt: null,
      log: { status: 'ok', output, message, error: null },
    });
    try {
      if (instruction.op === 'if') {
        const [condition] = await this.evaluate(
          state,
          [{ kind: 'expression', source: instruction.step.condition }],
          signal,
        );
        const value = isTruthy(condition);
        return ok({ condition: value }, null, value ? next : instruction.elseAt);
      }
      if (instruction.op !== 'step') return ok(null);
      const s = instruction.step;
      switch (s.type) {
        case 'http': {
          const result = await this.runHttp(s, state, signal);
          const maxValue = this.ctx.config.workflowMaxValueBytes;
          if (jsonBytes(JSON.stringify(result)) > maxValue) {
            throw new StepError(
              `the output is larger than ${maxValue} bytes (GATEHOUSE_WORKFLOW_MAX_VALUE_BYTES)`,
            );
          }
          state.outputs = { ...state.outputs, [s.id]: result };
          return ok({ status: result.status, body: result.body });
        }
        case 'delay': {
          const dueAt = new Date(this.now().getTime() + s.seconds * 1000).toISOString();
          return { ...ok({ seconds: s.seconds, dueAt }), dueAt };
        }
        case 'set': {
          const names = Object.keys(s.values);
          // One message: the values in order, each seeing the ones set before it.
          const values = await this.evaluate(
            state,
            names.map((name) => ({ kind: 'expression', source: s.values[name]!, assign: name })),
            signal,
          );
          const assigned: Record<string, unknown> = {};
          names.forEach((name, i) => {
            assigned[name] = values[i];
          });
          state.variables = { ...state.variables, ...assigned };
          return ok(assigned);
        }
        case 'log': {
          const [message] = await this.evaluate(state, [{ kind: 'template', source: s.message }], signal);
          return ok(null, typeof message === 'string' ? message : JSON.stringify(message));
        }
        case 'fail': {
          const [rendered] = await this.evaluate(state, [{ kind: 'template', source: s.message }], signal);
          const message = typeof rendered === 'string' ? rendered : JSON.stringify(rendered);
          return {
            pc: next,
            status: 'FAILED',
            error: message,
            dueAt: null,
            log: { status: 'error', output: null, message, error: message },
          };
        }
      }
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      if (signal.aborted && signal.reason === 'cancel') {
        return {
          pc: state.pc,
          status: 'CANCELED',
          error: null,
          dueAt: null,
          log: { status: 'canceled', output: null, message: null, error: 'canceled' },
        };
      }
      return this.failed(instruction, state, message);
    }
    return ok(null);
  }

  private async runHttp(
    step: Extract<Instruction, { op: 'step' }>['step'] & { type: 'http' },
    state: InstanceState,
    signal: AbortSignal,
  ): Promise<HttpResult> {
    const names = Object.keys(step.headers);
    const tasks: Task[] = [
      { kind: 'template', source: step.url },
      ...names.map((name): Task => ({ kind: 'template', source: step.headers[name]! })),
    ];
    if (step.body !== undefined) tasks.push({ kind: 'value', value: step.body });
    const rendered = await this.evaluate(state, tasks, signal);
    const url = rendered[0];
    const headers: Record<string, string> = {};
    names.forEach((name, i) => {
      const value = rendered[i + 1];
      headers[name] = typeof value === 'string' ? value : JSON.stringify(value);
    });
    const body = step.body === undefined ? undefined : rendered[names.length + 1];
    const spec = { method: step.method, url: String(url), headers, body, timeoutMs: step.timeoutMs };
    const limits = {
      maxBodyBytes: this.ctx.config.workflowMaxValueBytes,
      maxDepth: this.ctx.config.maxJsonDepth,
    };
    for (let attempt = 0; ; attempt++) {
      const retriesLeft = attempt < step.retries;
      let result: HttpResult;
      try {
        result = await sendOnce(spec, this.ctx.config.workflowHttpAllow, signal, limits);
      } catch (error) {
        if (!(error instanceof StepError) || !error.retryable || !retriesLeft || signal.aborted) throw error;
        await this.sleep(step.backoffMs * 2 ** attempt, signal);
        continue;
      }
      const failed = result.status < 200 || result.status >= 300;
      if (failed && step.failOnError) {
        if ((result.status === 429 || result.status >= 500) && retriesLeft && !signal.aborted) {
          await this.sleep(step.backoffMs * 2 ** attempt, signal);
          continue;
        }
        throw new StepError(`HTTP ${result.status} from ${step.method} ${new URL(spec.url).origin}`);
      }
      return result;
    }
  }

  /** Writes the step's result and its log line in one transaction, only while this engine holds the lease. */
  private async commit(
    state: InstanceState,
    instruction: Instruction,
    outcome: StepOutcome,
    startedAt: Date,
    serialized: { variables: string; outputs: string },
  ): Promise<boolean> {
    const step = instruction.op === 'jump' ? undefined : instruction.step;
    const endedAt = this.now();
    const seq = state.stepCount + 1;
    const terminal = outcome.status !== 'IN_PROGRESS';
    for (let attempt = 0; ; attempt++) {
      try {
        const ok = await this.ctx.store.transaction(async (tx) => {
          const result = await tx
            .updateTable('workflow_instances')
            .set({
              pc: outcome.pc,
              step_count: seq,
              status: outcome.status,
              variables: serialized.variables,
              outputs: serialized.outputs,
              error: outcome.error,
              due_at: outcome.dueAt,
              updated_at: endedAt.toISOString(),
              ...(terminal || outcome.dueAt !== null ? { lease_owner: null, lease_expires_at: null } : {}),
              ...(terminal ? { ended_at: endedAt.toISOString() } : {}),
            })
            .where('id', '=', state.id)
            .where('lease_owner', '=', this.nodeId)
            .executeTakeFirst();
          if (Number(result.numUpdatedRows) !== 1) return false;
          await tx
            .insertInto('workflow_instance_logs')
            .values({
              instance_id: state.id,
              seq,
              step_id: step?.id ?? 'jump',
              step_type: step?.type ?? 'jump',
              status: outcome.log.status,
              started_at: startedAt.toISOString(),
              ended_at: endedAt.toISOString(),
              duration_ms: Math.max(0, endedAt.getTime() - startedAt.getTime()),
              output: summarise(outcome.log.output),
              message: outcome.log.message,
              error: outcome.log.error,
            })
            .execute();
          return true;
        });
        if (ok) {
          state.pc = outcome.pc;
          state.stepCount = seq;
          state.fixedBytes += logLineBytes(outcome);
          workflowStepDuration.observe(
            { type: step?.type ?? 'jump', outcome: outcome.log.status },
            Math.max(0, endedAt.getTime() - startedAt.getTime()) / 1000,
          );
          if (outcome.status === 'COMPLETED' || outcome.status === 'FAILED' || outcome.status === 'CANCELED')
            countWorkflowRunFinished(outcome.status);
        }
        return ok;
      } catch (error) {
        if (!isBusy(error) || attempt >= 5) throw error;
      }
    }
  }

  /** Ends a run without a step (completion, or cancel at a step boundary). */
  private async finish(
    state: InstanceState,
    status: 'COMPLETED' | 'CANCELED',
    error: string | null,
  ): Promise<void> {
    const now = this.now().toISOString();
    const result = await this.db
      .updateTable('workflow_instances')
      .set({
        status,
        error,
        pc: state.pc,
        lease_owner: null,
        lease_expires_at: null,
        updated_at: now,
        ended_at: now,
      })
      .where('id', '=', state.id)
      .where('lease_owner', '=', this.nodeId)
      .executeTakeFirst();
    if (Number(result.numUpdatedRows) === 1) countWorkflowRunFinished(status);
  }

  /** Runs of the whole instance waiting to run (QUEUED) and running or waiting on a delay (IN_PROGRESS). */
  async queueDepth(): Promise<{ queued: number; inProgress: number }> {
    const rows = await this.db
      .selectFrom('workflow_instances')
      .select(['status', (eb) => eb.fn.countAll<number>().as('runs')])
      .where('status', 'in', RUNNABLE)
      .groupBy('status')
      .execute();
    const runs = (status: WorkflowInstanceStatus) =>
      Number(rows.find((row) => row.status === status)?.runs ?? 0);
    return { queued: runs('QUEUED'), inProgress: runs('IN_PROGRESS') };
  }
}
