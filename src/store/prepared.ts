/**
 * Queries compiled once and run many times with new parameter values.
 *
 * Building and compiling a Kysely query costs more than running a small one (the
 * benchmark measured about twice as much), and a few queries run on every request of a
 * hot route. A `PreparedQuery` builds its query once, with a placeholder object for
 * each parameter, compiles it for the store's dialect, and from then on only swaps the
 * values in. The query is still written with Kysely, once, for both dialects.
 */
import { type CompiledQuery, type Compilable, createQueryId } from 'kysely';
import type { Executor } from './index.js';

/** Stands for the i-th parameter while the query is compiled. */
class Placeholder {
  constructor(readonly index: number) {}
}

export class PreparedQuery<P extends readonly unknown[], R> {
  private readonly compiled = new WeakMap<object, CompiledQuery<R>>();

  /** `build` must use each parameter as a plain value (not to decide the query's shape). */
  constructor(
    private readonly arity: P['length'],
    private readonly build: (executor: Executor, ...params: P) => Compilable<R>,
  ) {}

  async execute(executor: Executor, ...params: P): Promise<R[]> {
    const result = await executor.executeQuery(this.bind(executor, params));
    return result.rows;
  }

  async executeTakeFirst(executor: Executor, ...params: P): Promise<R | undefined> {
    return (await this.execute(executor, ...params))[0];
  }

  private bind(executor: Executor, params: P): CompiledQuery<R> {
    // One template per Kysely instance (a transaction is another instance of the same dialect).
    let template = this.compiled.get(executor);
    if (!template) {
      const placeholders = Array.from({ length: this.arity }, (_, i) => new Placeholder(i)) as unknown as P;
      template = this.build(executor, ...placeholders).compile();
      this.compiled.set(executor, template);
    }
    return {
      ...template,
      queryId: createQueryId(),
      parameters: template.parameters.map((value) =>
        value instanceof Placeholder ? params[value.index] : value,
      ),
    };
  }
}
