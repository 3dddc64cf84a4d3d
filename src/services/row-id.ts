/**
 * References to rows that may be given as a numeric id or as a key (an email, a role name).
 * A whole number past any row id (2^63, 1e400, 20 digits) names no row: it must not reach the
 * database, where PostgreSQL refuses an out-of-range integer with an error (SQLite compares it
 * as a float and finds nothing).
 */

/** The largest id a row can have on both stores: PostgreSQL's `integer` identity columns. */
export const MAX_ROW_ID = 2_147_483_647;

/** `ref` is a whole number, but no row can have it as its id. */
export const NO_SUCH_ROW = Symbol('no such row');

/**
 * The row id `ref` names: a number for a whole number in a row id's range (given as a number
 * or as digits), `NO_SUCH_ROW` for a whole number past that range, undefined when `ref` is not
 * a whole number and so names its row by a key.
 */
export function rowIdOf(ref: number | string): number | typeof NO_SUCH_ROW | undefined {
  if (typeof ref === 'number') {
    return Number.isInteger(ref) && ref >= 0 && ref <= MAX_ROW_ID ? ref : NO_SUCH_ROW;
  }
  const text = ref.trim();
  if (!/^\d+$/.test(text)) return undefined;
  const id = Number(text);
  return id <= MAX_ROW_ID ? id : NO_SUCH_ROW;
}
