/**
 * JWS signatures on worker threads, in batches.
 *
 * `crypto.sign` with a callback runs each signature as its own libuv threadpool job. That
 * keeps RSA off the event loop, but every job is dispatched and completed on the event
 * loop, and a pool thread that ran dry has to be woken for the next one: measured on the
 * benchmark machine, 8 µs of event-loop time per ES256 signature and 33 µs per RS256 one,
 * more than the HTTP work of the request. Here the signing inputs of one event-loop turn
 * go to a signer thread as one message, the thread signs them one after another (plain
 * `crypto.sign`, off the event loop) and answers with one message: 2 µs and 6 µs.
 *
 * One pool per process, shared by every token service in it; the threads hold no
 * reference on the process while idle, so they never keep it alive. A thread that dies
 * fails the batches it held and is replaced at the next batch.
 */
import type crypto from 'node:crypto';
import { Worker } from 'node:worker_threads';
import type { TokenAlg } from '../config.js';

export interface SignerKey {
  readonly kid: string;
  readonly alg: TokenAlg;
  readonly privateKey: crypto.KeyObject;
}

/** Runs in each signer thread (CommonJS, evaluated from this string so no extra file ships). */
const SIGNER_THREAD_SOURCE = `
const { parentPort } = require('node:worker_threads');
const crypto = require('node:crypto');
const keys = new Map();
function signParameters(alg, key) {
  if (alg === 'ES256') return { digest: 'sha256', key: { key, dsaEncoding: 'ieee-p1363' } };
  if (alg === 'EdDSA') return { digest: null, key };
  return { digest: 'sha256', key };
}
parentPort.on('message', (message) => {
  if (message.type === 'key') {
    keys.set(message.kid, signParameters(message.alg, message.key));
    return;
  }
  if (message.type === 'forget') {
    keys.clear();
    return;
  }
  try {
    const key = keys.get(message.kid);
    if (!key) throw new Error('unknown signing key ' + message.kid);
    const signatures = message.inputs.map((input) => crypto.sign(key.digest, Buffer.from(input), key.key).toString('base64url'));
    parentPort.postMessage({ id: message.id, signatures });
  } catch (error) {
    parentPort.postMessage({ id: message.id, error: String((error && error.message) || error) });
  }
});
`;

/** Keys a thread remembers before it is told to forget them all (keys rotate in days, not seconds). */
const MAX_KEYS_PER_THREAD = 16;

interface Batch {
  readonly key: SignerKey;
  readonly inputs: string[];
  readonly settle: Array<{ resolve: (signature: string) => void; reject: (error: Error) => void }>;
}

interface SignerThread {
  readonly worker: Worker;
  readonly kids: Set<string>;
  readonly inFlight: Map<number, Batch>;
}

export class BatchSigner {
  private readonly threads: Array<SignerThread | undefined>;
  private pending = new Map<string, Batch>();
  private flushScheduled = false;
  private nextBatchId = 1;
  private closed = false;

  constructor(threadCount: number) {
    this.threads = Array.from({ length: Math.max(1, Math.floor(threadCount)) }, () => undefined);
  }

  /** The base64url JWS signature of `signingInput` (`header.payload`) with `key`. */
  sign(key: SignerKey, signingInput: string): Promise<string> {
    if (this.closed) return Promise.reject(new Error('the signer is closed'));
    return new Promise((resolve, reject) => {
      let batch = this.pending.get(key.kid);
      if (!batch) {
        batch = { key, inputs: [], settle: [] };
        this.pending.set(key.kid, batch);
      }
      batch.inputs.push(signingInput);
      batch.settle.push({ resolve, reject });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        // After this turn's I/O callbacks, so every request parsed in this turn joins the batch.
        setImmediate(() => this.flush());
      }
    });
  }

  /** Stops the threads; signatures still in flight fail. */
  async close(): Promise<void> {
    this.closed = true;
    const threads = this.threads.filter((thread): thread is SignerThread => thread !== undefined);
    this.threads.fill(undefined);
    await Promise.all(threads.map((thread) => thread.worker.terminate()));
  }

  private flush(): void {
    this.flushScheduled = false;
    const batches = [...this.pending.values()];
    this.pending = new Map();
    for (const batch of batches) {
      if (this.closed) {
        for (const { reject } of batch.settle) reject(new Error('the signer is closed'));
        continue;
      }
      // Runs from setImmediate: anything thrown here must fail the batch, never the process.
      try {
        const thread = this.leastBusyThread();
        const { kid } = batch.key;
        if (!thread.kids.has(kid)) {
          if (thread.kids.size >= MAX_KEYS_PER_THREAD) {
            thread.worker.postMessage({ type: 'forget' });
            thread.kids.clear();
          }
          thread.worker.postMessage({ type: 'key', kid, alg: batch.key.alg, key: batch.key.privateKey });
          thread.kids.add(kid);
        }
        const id = this.nextBatchId++;
        thread.worker.postMessage({ type: 'sign', id, kid, inputs: batch.inputs });
        // The answer arrives on a later turn, so recording the batch after posting it is safe.
        thread.inFlight.set(id, batch);
        if (thread.inFlight.size === 1) thread.worker.ref();
      } catch (error) {
        const failure = new Error(`signing failed: ${(error as Error).message}`);
        for (const { reject } of batch.settle) reject(failure);
      }
    }
  }

  private leastBusyThread(): SignerThread {
    let best: SignerThread | undefined;
    for (let i = 0; i < this.threads.length; i += 1) {
      const thread = this.threads[i] ?? this.startThread(i);
      if (thread.inFlight.size === 0) return thread;
      if (!best || thread.inFlight.size < best.inFlight.size) best = thread;
    }
    return best as SignerThread;
  }

  private startThread(slot: number): SignerThread {
    const worker = new Worker(SIGNER_THREAD_SOURCE, { eval: true });
    worker.unref();
    const thread: SignerThread = { worker, kids: new Set(), inFlight: new Map() };
    this.threads[slot] = thread;
    worker.on('message', (message: { id: number; signatures?: string[]; error?: string }) => {
      const batch = thread.inFlight.get(message.id);
      if (!batch) return;
      thread.inFlight.delete(message.id);
      if (thread.inFlight.size === 0) worker.unref();
      if (message.signatures) {
        for (let i = 0; i < batch.settle.length; i += 1)
          batch.settle[i]?.resolve(message.signatures[i] as string);
      } else {
        const error = new Error(`signing failed: ${message.error ?? 'unknown error'}`);
        for (const { reject } of batch.settle) reject(error);
      }
    });
    const fail = (reason: string) => {
      if (this.threads[slot] === thread) this.threads[slot] = undefined;
      const error = new Error(`the signer thread stopped: ${reason}`);
      for (const batch of thread.inFlight.values()) for (const { reject } of batch.settle) reject(error);
      thread.inFlight.clear();
    };
    worker.on('error', (error) => fail(error.message));
    worker.on('exit', (code) => fail(`exit code ${code}`));
    return thread;
  }
}

let shared: BatchSigner | undefined;

/**
 * The process's signer, created at the first signature. `threads` (used only then) is the
 * number of signer threads: the machine's cores divided among the serving processes.
 */
export function sharedSigner(threads: number): BatchSigner {
  shared ??= new BatchSigner(threads);
  return shared;
}
