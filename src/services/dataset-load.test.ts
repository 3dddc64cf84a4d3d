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
      '-123456789012345',
      '--1',
      '1-',
      '12a',
      '+',
      '١٢',
    ],
    DOUBLE: [
      '',
      '1',
      '-.5',
      '1e400',
      'NaN',
      ' 2 ',
      '1.',
      '.',
      '+.5',
      '-1.5e-3',
      '1e',
      '1e+',
      '1e12345',
      'e5',
      '1.2.3',
      '0x10',
      'Infinity',
      '1_0',
    ],
    DECIMAL: [
      '',
      '12.50',
      '1e2',
      'x',
      '1.',
      '.5',
      '-0.0',
      `1${'0'.repeat(298)}`,
      `1${'0'.repeat(320)}`,
      '1e308',
      '1e309',
      '+',
      '5e',
      '1 ',
    ],
    DATE: [
      '',
      '2024-02-29',
      '2023-02-29',
      '0000-01-01',
      ' 2026-01-01 ',
      '2026-04-31',
      '2026-12-31',
      '2026-13-01',
      '2026-00-10',
      '2026-01-00',
      '2026/01/01',
      '2026-1-01',
      '20a6-01-01',
      '0001-01-01',
      '1900-02-29',
      '2000-02-29',
    ],
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
      '2026-01-31T12:00:00.123',
      '2026-01-31 12:00:00.123Z',
      '2026-01-31T12:00:00X',
      '2026-01-31T12:00:00.12Z',
      '2026-01-31T12:00:00.1234Z',
      '2026-01-31T12:00:00,123Z',
      '2026-01-31t12:00:00Z',
      '2026-01-31T12-00-00Z',
      '2026-04-31T00:00:00Z',
      '2024-02-29T23:59:59Z',
      '2026-01-31T1a:00:00Z',
      '2026-01-31T12:00:00.12aZ',
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

    it('rows split natively and quoted rows read by csv-parse load alike, in order, across chunk boundaries', async () => {
      const columns: DatasetColumn[] = [
        { name: 'A', type: 'STRING' },
        { name: 'N', type: 'LONG' },
      ];
      const table = await freshTable(columns);
      // Plain CRLF lines, a quoted field holding a CRLF and a comma, plain lines again, no final CRLF.
      const text = 'a,1\r\nb,2\r\n"c\r\n,d",3\r\ne,4\r\n,5\r\nf,';
      for (const size of [1, 2, 3, 7, text.length]) {
        const chunks: Buffer[] = [];
        for (let at = 0; at < text.length; at += size) chunks.push(Buffer.from(text.slice(at, at + size)));
        await dropTable(ts.store, table);
        await createStagingTable(ts.store, table, columns);
        const count = await loadCsv(ts.store, table, columns, Readable.from(chunks), { maxBytes: 1e9 });
        expect(count, `chunks of ${size}`).toBe(6);
        expect(await exportAll(table, columns), `chunks of ${size}`).toBe(
          'a,1\nb,2\n"c\r\n,d",3\ne,4\n,5\nf,\n',
        );
      }
    });

    it('a bad value names its row whether its line was split natively or by csv-parse', async () => {
      const plain = Array.from({ length: 3000 }, (_, i) => `r${i},${i},1,1,2026-01-01,`);
      const cases: Array<[string, number]> = [
        // In the native part, far into the body (many chunks of 4 KiB).
        [`${plain.join('\n')}\nbad,1,1,1,2026-02-30,\n`, 3001],
        // After a quoted row sent the rest to csv-parse: rows are records, not lines.
        [
          `${plain.slice(0, 10).join('\n')}\n"two\nlines",1,1,1,,\n${plain.slice(10).join('\n')}\nbad,1,1,1,2026-02-30,\n`,
          3002,
        ],
      ];
      for (const [text, row] of cases) {
        const table = await freshTable();
        const chunks: Buffer[] = [];
        for (let at = 0; at < text.length; at += 4096) chunks.push(Buffer.from(text.slice(at, at + 4096)));
        const error = await loadCsv(ts.store, table, COLUMNS, Readable.from(chunks), {
          maxBytes: 1e9,
          batchRows: 500,
        }).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(ValidationError);
        expect((error as ValidationError).message).toBe(
          `Row ${row}, column 5 ("Day", DATE): "2026-02-30" is not a date (YYYY-MM-DD). Nothing was imported.`,
        );
        await dropTable(ts.store, table);
      }
    });

    it("csv-parse's own errors are 400s with the body's line number, an opening quote inside a field too", async () => {
      const cases: Array<[string, string]> = [
        [
          'a,1,1,1,,\nb,2,1,1,,\nc"d,3,1,1,,\n',
          'The CSV cannot be read: Invalid Opening Quote: a quote is found on field 0 at line 3, value is "c". Nothing was imported.',
        ],
        // csv-parse counts every CR and LF as a line (a CRLF delimiter once): here 5, as one csv-parse says.
        [
          'a,1,1,1,,\r\nb\r,2,1,1,,\r\n"open,3\r\n',
          'The CSV cannot be read: Quote Not Closed: the parsing is finished with an opening quote at line 5. Nothing was imported.',
        ],
      ];
      for (const [text, message] of cases) {
        const table = await freshTable();
        const error = await loadCsv(ts.store, table, COLUMNS, body(text), { maxBytes: 1e9 }).catch(
          (e: unknown) => e,
        );
        expect(error).toBeInstanceOf(ValidationError);
        expect((error as ValidationError).message).toBe(message);
        await dropTable(ts.store, table);
      }
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
