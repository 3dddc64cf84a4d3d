/**
 * Work that must run only once a transaction has committed (dropping caches, telling
 * other processes), registered on the transaction itself by the code that made the
 * change, so that no caller can forget it.
 *
 * `store.transaction(work)` opens the transaction, runs `work`, commits, then awaits
 * every hook registered on that transaction in order; a transaction that rolls back
 * (its work threw, or the commit failed) runs none of them.
 */
import type { Db, Executor, Tx } from './index.js';

export type AfterCommitHook = () => void | Promise<void>;

const pending = new WeakMap<object, AfterCommitHook[]>();

/**
 * Runs `hook` after `executor`'s transaction commits. `executor` must be a transaction opened by
 * `store.transaction()`; a plain database handle (every statement commits on its own) runs the
 * hook at once.
 */
export async function afterCommit(executor: Executor, hook: AfterCommitHook): Promise<void> {
  if (!executor.isTransaction) {
    await hook();
    return;
  }
  const hooks = pending.get(executor);
  if (!hooks) throw new Error('afterCommit needs a transaction opened by store.transaction()');
  hooks.push(hook);
}

/** True when `executor` is a transaction of `store.transaction()` still running. */
export function carriesHooks(executor: Executor): boolean {
  return pending.has(executor);
}

/** `db.transaction().execute(work)`, then the hooks registered on it (in order; every one runs). */
export async function transactionWithHooks<T>(db: Db, work: (tx: Tx) => Promise<T>): Promise<T> {
  const hooks: AfterCommitHook[] = [];
  let transaction: Tx | undefined;
  try {
    const result = await db.transaction().execute((tx) => {
      transaction = tx;
      pending.set(tx, hooks);
      return work(tx);
    });
    let failure: unknown;
    for (const hook of hooks) {
      try {
        await hook();
      } catch (error) {
        failure ??= error;
      }
    }
    if (failure !== undefined) throw failure;
    return result;
  } finally {
    if (transaction) pending.delete(transaction);
  }
}
