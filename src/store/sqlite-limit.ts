/**
 * SQLite re-plans a statement whose LIMIT is a bare bound parameter every time it runs.
 *
 * Since 3.4x the planner reads the value bound to `LIMIT ?` while it plans
 * (`sqlite3ExprIsInteger` on a variable marks it in the statement's `expmask`), so
 * binding new values (better-sqlite3 binds on every call) expires the prepared statement
 * and the next step parses and plans it again. Kysely writes `limit ?`, so every paginated
 * list paid for a full prepare: the benchmark's guarded `GET /v1/workflows` spent about
 * 100 µs of its 140 µs there. `limit cast(? as integer)` is not a bare variable, so the
 * statement stays prepared; the value is the same integer.
 *
 * The plugin rewrites the LIMIT of a SELECT that has one, and the LIMITs of the selects
 * nested in it, for SQLite only (a LIMIT nested in a query without one is left as it is:
 * still correct, just re-planned). PostgreSQL plans `$n` generically and needs none of it.
 */
import {
  type KyselyPlugin,
  LimitNode,
  OperationNodeTransformer,
  type PluginTransformQueryArgs,
  type PluginTransformResultArgs,
  type QueryResult,
  type RootOperationNode,
  sql,
  type UnknownRow,
  ValueNode,
} from 'kysely';

class LimitAsExpression extends OperationNodeTransformer {
  protected override transformLimit(node: LimitNode): LimitNode {
    const transformed = super.transformLimit(node);
    if (!ValueNode.is(transformed.limit)) return transformed;
    return LimitNode.create(sql`cast(${transformed.limit.value} as integer)`.toOperationNode());
  }
}

export class SqliteLimitPlugin implements KyselyPlugin {
  readonly #transformer = new LimitAsExpression();

  transformQuery({ node }: PluginTransformQueryArgs): RootOperationNode {
    // Only a SELECT with a LIMIT is rewritten; every other query passes untouched (and uncopied).
    if (node.kind !== 'SelectQueryNode' || node.limit === undefined) return node;
    return this.#transformer.transformNode(node);
  }

  async transformResult({ result }: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    return result;
  }
}
