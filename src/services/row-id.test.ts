import { describe, expect, it } from 'vitest';
import { MAX_ROW_ID, NO_SUCH_ROW, rowIdOf } from './row-id.js';

describe('rowIdOf', () => {
  it('reads whole numbers in a row id range, given as numbers or digits', () => {
    expect(rowIdOf(7)).toBe(7);
    expect(rowIdOf('7')).toBe(7);
    expect(rowIdOf(' 42 ')).toBe(42);
    expect(rowIdOf(String(MAX_ROW_ID))).toBe(MAX_ROW_ID);
  });

  it('says a whole number past every row id names no row, instead of passing it to the database', () => {
    for (const ref of [
      String(MAX_ROW_ID + 1),
      '9223372036854775808',
      '18446744073709551616',
      MAX_ROW_ID + 1,
      2 ** 63,
      1.5,
      -1,
      Number.POSITIVE_INFINITY,
      Number.NaN,
    ]) {
      expect(rowIdOf(ref), String(ref)).toBe(NO_SUCH_ROW);
    }
  });

  it('leaves keys (emails, names) to be looked up as keys', () => {
    for (const ref of ['ada@example.com', 'Admin', '', '-1', '1e400', '1.5', '0x10']) {
      expect(rowIdOf(ref), ref).toBeUndefined();
    }
  });
});
