/**
 * The upload CSV reader against csv-parse itself: for every input, cut into chunks at every byte
 * and byte by byte, the records (or the error code and message, its line number included) must
 * be the ones a single csv-parse gives with the loader's options. The inputs cover the fast path's
 * edges: CRLF and CR delimiters, a CR or LF inside a line, a trailing delimiter or none, empty
 * lines, quoted fields (wholly quoted ones split here; with escaped quotes, line breaks, stray or
 * unclosed quotes read by csv-parse; starting mid-body or on the first line), byte-order marks, multi-byte and broken UTF-8, and lines at and past the record limit.
 */
import { Readable } from 'node:stream';
import { parse } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import { readCsvRecords } from './dataset-csv.js';

type Outcome = { records: string[][] } | { error: { code: unknown; message: string } };

function reference(body: Buffer, skipEmptyLines: boolean, maxRecordBytes: number): Outcome {
  try {
    return {
      records: parse(body, {
        bom: true,
        relax_column_count: true,
        max_record_size: maxRecordBytes,
        skip_empty_lines: skipEmptyLines,
      }) as string[][],
    };
  } catch (error) {
    return { error: { code: (error as { code?: unknown }).code, message: (error as Error).message } };
  }
}

async function ours(chunks: Buffer[], skipEmptyLines: boolean, maxRecordBytes: number): Promise<Outcome> {
  const records: string[][] = [];
  try {
    for await (const batch of readCsvRecords(Readable.from(chunks, { objectMode: true }), {
      skipEmptyLines,
      maxRecordBytes,
    }))
      records.push(...batch);
    return { records };
  } catch (error) {
    return { error: { code: (error as { code?: unknown }).code, message: (error as Error).message } };
  }
}

/** The body whole, in two pieces cut at every byte, and byte by byte. */
function cuts(body: Buffer): Buffer[][] {
  const all: Buffer[][] = [[body]];
  for (let at = 1; at < body.length; at++) all.push([body.subarray(0, at), body.subarray(at)]);
  all.push([...body].map((byte) => Buffer.from([byte])));
  return all;
}

const INPUTS: Array<[string, string | Buffer]> = [
  ['LF, trailing', 'a,1\nb,2\n'],
  ['LF, none trailing', 'a,1\nb,2'],
  ['CRLF', 'a,1\r\nb,2\r\n'],
  ['CRLF, none trailing', 'a,1\r\nb,2'],
  ['CR', 'a,1\rb,2\r'],
  ['LF with a CR inside and a CRLF', 'a\r,1\nb,2\r\nc,3\n'],
  ['CRLF with bare LF and CR inside', 'a,1\r\nb\n2,x\r3\r\nc,\r\r\n'],
  ['CR with LF inside', 'a,1\r\nb,2\rc,3'],
  ['empty fields and lines', ',\n\n,,\n\n\na,\n'],
  ['leading empty lines', '\n\na,1\n'],
  ['one column with empty lines', 'a\n\nb\n\n'],
  ['only a delimiter', '\n'],
  ['only a CR', '\r'],
  ['only a CRLF', '\r\n'],
  ['one field', 'a'],
  ['one comma', ','],
  ['empty', ''],
  ['quoted mid-body', 'a,1\nb,2\n"c,d",3\ne,4\n'],
  ['quoted first line', '"a\nb",1\nc,2\n'],
  ['quoted with escaped quotes', 'x,1\n"say ""hi""",2\n'],
  ['quoted line break, CRLF', 'a,1\r\n"q\r\nr",2\r\ns,3\r\n'],
  ['quoted empty field', 'a,""\n"",b\n'],
  ['quote not closed', 'a,1\nb\r,2\n"open,3\nc,4\n'],
  ['invalid closing quote', 'a,1\r\nb,2\r\n"x"y,3\r\n'],
  ['invalid opening quote', 'a,1\nb,2\nc"d,3\n'],
  ['quote in the last line without a delimiter', 'a,1\nb,"2"'],
  ['a wholly quoted first line', '"a","b"\n"c",d\n'],
  ['a wholly quoted first line, CRLF, no final delimiter', '"a,b",1\r\n"c",2'],
  ['a wholly quoted first line, CR', '"a"\r"b"\r'],
  ['one wholly quoted field, nothing else', '"a"'],
  ['one unclosed quote, nothing else', '"a'],
  ['a first line with a line break in quotes (CRLF after it)', '"a\nb",1\r\nc,2\r\n'],
  ['a first line with an escaped quote', '"a""b",1\nc,2\n'],
  ['wholly quoted fields, split here', 'h,1\na,"b,c",1\n"",x\n"q",\n,""\n"",""\n'],
  ['wholly quoted fields, no final delimiter', 'h\n"a","b"\n"c","d"'],
  ['wholly quoted fields, CRLF, then a field spanning lines', 'h,1\r\n"a","b"\r\n"c\r\nd",e\r\n"f",g\r\n'],
  ['an escaped quote after split quoted lines', 'h,1\n"a",1\na,"x""y"\nb,2\n'],
  ['a quote after a closing quote', 'h\n"a",1\n"a"b,1\n'],
  ['a CR after a closing quote (LF delimiter)', 'h,1\n"a",\r\nb,2\n'],
  ['a quoted empty line is a record', 'h,1\n\n""\n\nb,2\n'],
  ['a stray quote in the last line', 'h,1\n"a",b"c'],
  ['an unclosed quote in the last line', 'h,1\n"a",1\n"b,1'],
  ['UTF-8 BOM', '\ufeffa,1\nb,2\n'],
  ['UTF-8 BOM then a quote', '\ufeff"a",1\n'],
  ['two UTF-8 BOMs', '\ufeff\ufeffa,1\n'],
  ['UTF-16LE BOM', Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('a,1\nb,2\n', 'utf16le')])],
  ['multi-byte', 'ü,𝄞\n€,1\n'],
  ['broken UTF-8', Buffer.from([0x61, 0xe2, 0x82, 0x2c, 0x31, 0x0a, 0xff, 0x2c, 0x0a, 0xf0, 0x9d])],
];

describe('readCsvRecords gives what csv-parse gives', () => {
  it.each(INPUTS)('%s', async (_name, input) => {
    const body = Buffer.isBuffer(input) ? input : Buffer.from(input);
    for (const skipEmptyLines of [true, false]) {
      const expected = reference(body, skipEmptyLines, 4 * 1024 * 1024);
      for (const chunks of cuts(body)) {
        const got = await ours(chunks, skipEmptyLines, 4 * 1024 * 1024);
        expect(got, `${JSON.stringify(chunks.map(String))} skipEmptyLines=${skipEmptyLines}`).toEqual(
          expected,
        );
      }
    }
  });

  it.each([
    ['a line at the limit, then one past it', 'abc,def\n0123456789,x\n0123456789a,1\nz,2\n'],
    ['a line past the limit without a delimiter', 'a,1\r\n0123456789abcdef'],
    ['a first line past the limit', '0123456789abcdef\nz\n'],
    ['long lines in quotes', 'a,1\n"0123456789abcdef"\n'],
    ['CRLF at the limit', '0123456789\r\n0123456\r\n'],
    ['CRLF, a line past the limit only with its bare LF', 'ab\r\n0123\n4567890\r\nz\r\n'],
    ['CR, a line past the limit only with its LF', 'ab\r0123\n4567890\rz\r'],
  ])('the record limit: %s', async (_name, input) => {
    const body = Buffer.from(input);
    const expected = reference(body, true, 10);
    for (const chunks of cuts(body)) {
      expect(await ours(chunks, true, 10), JSON.stringify(chunks.map(String))).toEqual(expected);
    }
  });

  it('counts lines for a late error across many chunks of plain lines', async () => {
    const plain = Array.from({ length: 5000 }, (_, i) => `r${i},${i}${i % 7 === 3 ? '\r' : ''}`).join('\n');
    const body = Buffer.from(`${plain}\n"never closed,1\n`);
    const expected = reference(body, true, 4 * 1024 * 1024);
    expect(expected).toMatchObject({ error: { code: 'CSV_QUOTE_NOT_CLOSED' } });
    const chunks: Buffer[] = [];
    for (let at = 0; at < body.length; at += 997) chunks.push(body.subarray(at, at + 997));
    expect(await ours(chunks, true, 4 * 1024 * 1024)).toEqual(expected);
  });

  it('an error of the source passes through unchanged', async () => {
    const failure = new Error('the client went away');
    async function* source() {
      yield Buffer.from('a,1\nb,2\n');
      throw failure;
    }
    const seen: string[][] = [];
    const error = await (async () => {
      for await (const batch of readCsvRecords(source(), { skipEmptyLines: true, maxRecordBytes: 100 }))
        seen.push(...batch);
    })().catch((e: unknown) => e);
    expect(error).toBe(failure);
    expect(seen).toEqual([
      ['a', '1'],
      ['b', '2'],
    ]);
  });
});
