/**
 * Loading and exporting a dataset's rows on both stores: the fast converters against
 * convertValue, many batches in order, the characters COPY and CSV treat specially, a bad last
 * row, the sweep of stale tables, and what an export sends when a REPLACE or an APPEND lands
 * while it runs.
 */
import crypto from 'node:crypto';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PayloadTooLargeError, ValidationError } from '../errors.js';
import { dialects, type TestStore } from '../../test/helpers/stores.js';
import { csvField, exportRows } from './dataset-export.js';
import {
  appendFrom,
  type ColumnType,
  convertValue,
  converterFor,
  createStagingTable,
  type DatasetColumn,
  dataTable,
  dropTable,
  loadCsv,
  replaceWith,
  STALE_STAGING_AGE_MS,
  stagingTableName,
  sweepStaleTables,
} from './dataset-load.js';

describe('converterFor', () => {
  const samples: Record<ColumnType, string[]> = {
    STRING: ['', 'a', ' x ', 'a\u0000b', '\\N', 'ü'],
    LONG: [
      '',
      '0',
      '-0',
      '42',
      ' 7 ',
      '+5',
      '123456789012345',
      '1234567890123456',
      '9007199254740992',
      '1.5',
      'x',
      '-',
    ],
    DOUBLE: ['', '1', '-.5', '1e400', 'NaN', ' 2 '],
    DECIMAL: ['', '12.50', '1e2', 'x'],
    DATE: ['', '2024-02-29', '2023-02-29', '0000-01-01', ' 2026-01-01 '],
    DATETIME: [
      '',
      '2026-01-31T12:00:00Z',
      '2026-01-31 12:00:00',
      '2026-01-31T12:00:00.123Z',
      '2026-01-31T12:00:00.5Z',
      '2026-01-31T24:00:00Z',
      '2026-01-31T23:60:00Z',
      '2026-02-30T12:00:00Z',
      '0000-01-01T00:00:00Z',
      '0001-01-01T00:00:00Z',
      '9999-12-31T23:59:59.999Z',
      '2026-01-31T12:00:00+01:00',
      ' 2026-01-31T12:00:00Z',
      '2026-01-31T12:00',
    ],
  };
  it.each(Object.entries(samples))('%s: the fast paths give what convertValue gives', (type, values) => {
    const convert = converterFor(type as ColumnType);
    for (const raw of values) {
      const expected = convertValue(type as ColumnType, raw);
      const got = convert(raw);
      if ('error' in expected) expect(typeof got, raw).toBe('symbol');
      else expect(got, raw).toStrictEqual(expected.value);
    }
  });
});

const COLUMNS: DatasetColumn[] = [
  { name: 'Text', type: 'STRING' },
  { name: 'N', type: 'LONG' },
  { name: 'Amount', type: 'DECIMAL' },
  { name: 'Ratio', type: 'DOUBLE' },
  { name: 'Day', type: 'DATE' },
  { name: 'At', type: 'DATETIME' },
];

const body = (text: string) => Readable.from([Buffer.from(text)]);

async function read(stream: Readable): Promise<string> {
  let text = '';
  for await (const chunk of stream) text += chunk.toString();
  return text;
}

for (const dialect of dialects()) {
  describe.skipIf(dialect.skip)(`loading and exporting rows (${dialect.name})`, () => {
    let ts: TestStore;
    beforeAll(async () => {
      ts = await dialect.open();
    });
    afterAll(async () => {
      await ts?.dispose();
    });

    async function freshTable(columns = COLUMNS): Promise<string> {
      const table = dataTable(crypto.randomUUID());
      await createStagingTable(ts.store, table, columns);
      return table;
    }
    const exportAll = (table: string, columns = COLUMNS, pageRows?: number) =>
      read(exportRows(ts.store, table, columns, { includeHeader: false, pageRows }));

    it('many batches keep the exact row order; the export pages through them in order', async () => {
      const table = await freshTable();
      const lines = Array.from(
        { length: 1234 },
        (_, i) =>
          `r${i},${i},${i}.25,${i / 4},2026-01-${String(1 + (i % 28)).padStart(2, '0')},2026-01-01T00:00:${String(i % 60).padStart(2, '0')}Z`,
      );
      const count = await loadCsv(ts.store, table, COLUMNS, body(`${lines.join('\n')}\n`), {
        maxBytes: 1e9,
        batchRows: 7,
      });
      expect(count).toBe(1234);
      const expected = lines.map((line, i) => {
        const at = line.split(',')[5]!.replace('Z', '.000Z');
        return `r${i},${i},${i}.25,${i / 4},${line.split(',')[4]},${at}\n`;
      });
      expect(await exportAll(table, COLUMNS, 100)).toBe(expected.join(''));
    });

    it('quotes, commas, line breaks, tabs, backslashes, \\N, empty vs null and unicode survive load and export', async () => {
      const columns: DatasetColumn[] = [
        { name: 'A', type: 'STRING' },
        { name: 'B', type: 'STRING' },
      ];
      const table = await freshTable(columns);
      const values = [
        'say "hi"',
        'a,b',
        'two\nlines',
        'cr\rlf\r\n',
        'tab\there',
        'back\\slash',
        '\\N',
        '\\.',
        '\\',
        ' padded ',
        '\u00a0nbsp',
        'ideographic\u3000',
        'ünïcödé ✓ 𝄞',
        '""',
        'bell\u0007',
        '=1+1',
      ];
      const csv = `${values.map((v, i) => `${csvField(v)},${i % 2 ? '' : '""'}`).join('\n')}\n`;
      expect(await loadCsv(ts.store, table, columns, body(csv), { maxBytes: 1e9 })).toBe(values.length);
      // An empty field is null for every type ("" too): both read back as an empty field.
      const expected = values.map((v) => `${csvField(v)},\n`).join('');
      expect(await exportAll(table, columns)).toBe(expected);
    });

    it('NUL is refused with row, column and value named', async () => {
      const table = await freshTable([{ name: 'A', type: 'STRING' }]);
      const error = await loadCsv(ts.store, table, [{ name: 'A', type: 'STRING' }], body('ok\nx\u0000y\n'), {
        maxBytes: 1e9,
        label: 'Part 2',
      }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).message).toBe(
        'Part 2: Row 2, column 1 ("A", STRING): "x\u0000y" is a STRING may not contain the NUL character. Nothing was imported.',
      );
    });

    it('a bad value in the last row of a large body throws after many batches; a body too large is a 413', async () => {
      const table = await freshTable();
      const good = Array.from({ length: 12_000 }, (_, i) => `r${i},${i},1,1,2026-01-01,`).join('\n');
      const error = await loadCsv(ts.store, table, COLUMNS, body(`${good}\nbad,x,1,1,,\n`), {
        maxBytes: 1e9,
        batchRows: 1000,
      }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).details).toEqual({
        row: 12_001,
        column: 'N',
        type: 'LONG',
        value: 'x',
        reason: 'not a whole number',
      });
      const tooLarge = await loadCsv(ts.store, table, COLUMNS, body(good), { maxBytes: 1000 }).catch(
        (e: unknown) => e,
      );
      expect(tooLarge).toBeInstanceOf(PayloadTooLargeError);
      await dropTable(ts.store, table);
    });

    it('an export finishes with the rows it started on when a REPLACE or an APPEND lands meanwhile', async () => {
      const table = await freshTable();
      const rows = (from: number, n: number) =>
        Array.from({ length: n }, (_, i) => `r${from + i},${from + i},1,1,,\n`).join('');
      await loadCsv(ts.store, table, COLUMNS, body(rows(0, 50)), { maxBytes: 1e9 });
      const stream = exportRows(ts.store, table, COLUMNS, { includeHeader: false, pageRows: 10 });
      const iterator = stream[Symbol.asyncIterator]();
      let text = ((await iterator.next()).value as Buffer).toString();
      // APPEND 5 rows, then REPLACE with 20 others, while the export is on its first page.
      const extra = stagingTableName(table);
      await createStagingTable(ts.store, extra, COLUMNS);
      await loadCsv(ts.store, extra, COLUMNS, body(rows(1000, 5)), { maxBytes: 1e9 });
      await ts.store.transaction((tx) => appendFrom(tx, table, extra, COLUMNS));
      const staging = stagingTableName(table);
      await createStagingTable(ts.store, staging, COLUMNS);
      await loadCsv(ts.store, staging, COLUMNS, body(rows(2000, 20)), { maxBytes: 1e9 });
      await ts.store.transaction((tx) => replaceWith(tx, ts.store.dialect, table, staging));
      for (let next = await iterator.next(); !next.done; next = await iterator.next())
        text += (next.value as Buffer).toString();
      expect(text).toBe(rows(0, 50));
      // A new export reads the new rows.
      expect(await exportAll(table)).toBe(rows(2000, 20));
    });

    it('the sweep drops old staging and retired tables, and old-style staging names; it keeps fresh ones', async () => {
      const table = await freshTable();
      const now = Date.now();
      const fresh = stagingTableName(table, now - 60_000);
      const stale = stagingTableName(table, now - STALE_STAGING_AGE_MS - 60_000);
      const undated = `${table}_u${crypto.randomBytes(6).toString('hex')}`;
      for (const name of [fresh, stale, undated]) await createStagingTable(ts.store, name, COLUMNS);
      // A REPLACE retires the old table under a dated name.
      const staging = stagingTableName(table);
      await createStagingTable(ts.store, staging, COLUMNS);
      await ts.store.transaction((tx) =>
        replaceWith(tx, ts.store.dialect, table, staging, now - 2 * 3_600_000),
      );
      const dropped = await sweepStaleTables(ts.store, { now });
      const mine = dropped.filter((name) => name.startsWith(table)).sort();
      expect(mine).toHaveLength(3);
      expect(mine).toEqual(expect.arrayContaining([stale, undated]));
      expect(mine.find((name) => name !== stale && name !== undated)).toMatch(
        new RegExp(`^${table}_o[0-9a-f]{12}$`),
      );
      // The dataset's table and the fresh staging table are still there.
      expect(await exportAll(table)).toBe('');
      expect(await sweepStaleTables(ts.store, { now })).toEqual([]);
      await dropTable(ts.store, fresh);
    });
  });
}
