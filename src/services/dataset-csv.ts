/**
 * The CSV reader of DataSet uploads (src/services/dataset-load.ts): the records of a body, in
 * batches, exactly as `csv-parse` reads them with the loader's options (`bom`, `relax_column_count`,
 * `max_record_size`, `skip_empty_lines`; the record delimiter found from the data), but about half
 * the CPU for the common case.
 *
 * Why: `csv-parse` looks at every byte in JavaScript and builds every field in a resizable
 * buffer; it was about half of an import's CPU (README, "Measured so far"). A line without a
 * quote character needs none of that: it is the text between two record delimiters, split on
 * commas, which `Buffer.toString` and `String.split` do natively.
 *
 * How: complete lines are taken from each chunk as bytes; while they hold no `"` and no line is
 * longer than the record limit, they are decoded and split here. At the first line that holds a
 * quote (a quoted field may hold commas and line breaks, and span chunks), or is too long, or
 * starts with something other than a UTF-8 byte-order mark, the rest of the body — from the
 * start of that line, byte for byte — goes to `csv-parse` with the record delimiter already
 * found, and stays there. `csv-parse`'s messages say "at line N" counting from where it started;
 * the lines read before are added, so the message is the one a single `csv-parse` would give.
 * dataset-csv.test.ts compares both, records and errors, over many inputs cut at every byte.
 */
import { Readable } from 'node:stream';
import { parse as parseCsv } from 'csv-parse';

const CR = 13;
const LF = 10;
const QUOTE = 34;
const UTF8_BOM = Buffer.from([0xef, 0xbb, 0xbf]);
const UTF16LE_BOM = Buffer.from([0xff, 0xfe]);

export interface CsvReadOptions {
  /** Skip lines with no characters (csv-parse's `skip_empty_lines`). */
  skipEmptyLines: boolean;
  /** csv-parse's `max_record_size`, in bytes. */
  maxRecordBytes: number;
}

type Delimiter = '\n' | '\r\n' | '\r';

/** How many times `byte` occurs in `buf[start, end)`. */
function countByte(buf: Buffer, byte: number, start: number, end: number): number {
  let count = 0;
  for (let at = buf.indexOf(byte, start); at !== -1 && at < end; at = buf.indexOf(byte, at + 1)) count++;
  return count;
}

/** Where the line holding byte `at` starts (the byte after the delimiter before it), not before `from`. */
function lineStartOf(buf: Buffer, at: number, from: number, delimiter: Delimiter): number {
  const last = delimiter === '\r' ? CR : LF;
  for (let i = at - 1; i >= from; i--) {
    if (buf[i] === last && (delimiter !== '\r\n' || (i > from && buf[i - 1] === CR))) return i + 1;
  }
  return from;
}

/**
 * The records of `source` (the body's bytes, already gunzipped and counted), a batch per chunk.
 * Errors of the source pass through; csv-parse's own errors (a broken quote, a record past the
 * limit) come as csv-parse throws them, with the line numbered from the start of the body.
 */
export async function* readCsvRecords(
  source: AsyncIterable<Buffer>,
  options: CsvReadOptions,
): AsyncGenerator<string[][]> {
  const chunks = source[Symbol.asyncIterator]();
  try {
    yield* records(chunks, options);
  } finally {
    // A consumer that stops early (a bad value) stops the source too.
    await chunks.return?.();
  }
}

async function* records(chunks: AsyncIterator<Buffer>, options: CsvReadOptions): AsyncGenerator<string[][]> {
  let pending: Buffer = Buffer.alloc(0);
  let ended = false;
  let delimiter: Delimiter | undefined;
  /** csv-parse's line count so far: every CR and LF byte read, a CRLF delimiter counting once. */
  let lines = 0;
  const more = async (): Promise<boolean> => {
    const next = await chunks.next();
    if (next.done) {
      ended = true;
      return false;
    }
    pending = pending.length === 0 ? next.value : Buffer.concat([pending, next.value]);
    return true;
  };

  // A byte-order mark: csv-parse looks at the first 3 bytes (when there are 3).
  while (!ended && pending.length < 3) await more();
  if (pending.length < 3 || UTF16LE_BOM.compare(pending, 0, 2) === 0) {
    // Too short to matter, or UTF-16: csv-parse reads it all, as it would have.
    yield* fallback(pending, chunks, ended, { ...options, bom: true }, undefined, 0);
    return;
  }
  if (UTF8_BOM.compare(pending, 0, 3) === 0) pending = pending.subarray(3);

  for (;;) {
    if (delimiter === undefined) {
      // csv-parse takes the first CR, LF or CRLF outside quotes as the record delimiter.
      const cr = pending.indexOf(CR);
      const lf = pending.indexOf(LF);
      const first = cr === -1 ? lf : lf === -1 ? cr : Math.min(cr, lf);
      const quote = pending.indexOf(QUOTE);
      if (quote !== -1 && (first === -1 || quote < first)) {
        yield* fallback(pending, chunks, ended, options, undefined, 0);
        return;
      }
      if (first !== -1 && (first !== cr || cr + 1 < pending.length || ended)) {
        delimiter = first === lf ? '\n' : pending[cr + 1] === LF ? '\r\n' : '\r';
      } else if (ended) {
        if (pending.length > options.maxRecordBytes) {
          yield* fallback(pending, chunks, ended, options, undefined, 0);
          return;
        }
        if (pending.length > 0) yield [pending.toString('utf8').split(',')];
        return;
      } else {
        if (pending.length > options.maxRecordBytes) {
          yield* fallback(pending, chunks, ended, options, undefined, 0);
          return;
        }
        await more();
        continue;
      }
    }

    // The complete lines in `pending`: up to the end of its last record delimiter.
    const last =
      delimiter === '\r\n' ? pending.lastIndexOf('\r\n') : pending.lastIndexOf(delimiter === '\n' ? LF : CR);
    const end = last === -1 ? 0 : last + delimiter.length;
    let stop = -1;
    const quote = pending.indexOf(QUOTE);
    if (quote !== -1) stop = quote < end ? lineStartOf(pending, quote, 0, delimiter) : end;
    if (end > options.maxRecordBytes) {
      // A line past the record limit goes to csv-parse, which says so if it must.
      const next = firstLongLine(pending, stop === -1 ? end : stop, delimiter, options.maxRecordBytes);
      if (next !== -1) stop = next;
    }
    const upto = stop === -1 ? end : Math.min(stop, end);
    if (upto > 0) {
      const batch = splitLines(pending, upto, delimiter, options.skipEmptyLines);
      lines += breaksIn(pending, upto, delimiter, batch.lines);
      if (batch.records.length > 0) yield batch.records;
      pending = pending.subarray(upto);
    }
    if (stop !== -1 || pending.length > options.maxRecordBytes) {
      yield* fallback(pending, chunks, ended, options, delimiter, lines);
      return;
    }
    if (ended) {
      // The last line, without a delimiter after it: a record unless it is empty.
      if (pending.length > 0) yield [pending.toString('utf8').split(',')];
      return;
    }
    await more();
  }
}

/** The start of the first line in `buf[0, end)` longer than `max` bytes, or -1. */
function firstLongLine(buf: Buffer, end: number, delimiter: Delimiter, max: number): number {
  const mark = delimiter === '\r' ? CR : LF;
  let start = 0;
  while (start < end) {
    let next = buf.indexOf(mark, start);
    if (next === -1 || next >= end) next = end;
    const length = next - start - (delimiter === '\r\n' && next < end ? 1 : 0);
    if (length > max) return start;
    start = next + 1;
  }
  return -1;
}

/** The records of the complete lines `buf[0, end)`, and how many lines there were. */
function splitLines(
  buf: Buffer,
  end: number,
  delimiter: Delimiter,
  skipEmpty: boolean,
): { records: string[][]; lines: number } {
  const text = buf.toString('utf8', 0, end - delimiter.length);
  const lines = text.split(delimiter);
  const records: string[][] = [];
  for (const line of lines) {
    if (line.length === 0 && skipEmpty) continue;
    records.push(line.split(','));
  }
  return { records, lines: lines.length };
}

/** csv-parse's line count for `buf[0, end)`: its CR and LF bytes, a CRLF delimiter counting once. */
function breaksIn(buf: Buffer, end: number, delimiter: Delimiter, lineCount: number): number {
  if (delimiter === '\n') return lineCount + countByte(buf, CR, 0, end);
  if (delimiter === '\r') return lineCount + countByte(buf, LF, 0, end);
  return countByte(buf, CR, 0, end) + countByte(buf, LF, 0, end) - lineCount;
}

/**
 * The rest of the body through csv-parse: `first`, then what `chunks` still gives, one record per
 * batch. `lineOffset` lines were read before `first`; csv-parse's messages are renumbered.
 */
async function* fallback(
  first: Buffer,
  chunks: AsyncIterator<Buffer>,
  ended: boolean,
  options: CsvReadOptions & { bom?: boolean },
  delimiter: Delimiter | undefined,
  lineOffset: number,
): AsyncGenerator<string[][]> {
  const parser = parseCsv({
    bom: options.bom ?? false,
    relax_column_count: true,
    max_record_size: options.maxRecordBytes,
    skip_empty_lines: options.skipEmptyLines,
    ...(delimiter === undefined ? {} : { record_delimiter: delimiter }),
  });
  const rest = Readable.from(
    (async function* () {
      if (first.length > 0) yield first;
      if (ended) return;
      for (let next = await chunks.next(); !next.done; next = await chunks.next()) yield next.value;
    })(),
    { objectMode: false },
  );
  rest.on('error', (error) => parser.destroy(error));
  rest.pipe(parser);
  try {
    for await (const record of parser as AsyncIterable<string[]>) yield [record];
  } catch (error) {
    throw renumbered(error, lineOffset);
  } finally {
    rest.destroy();
    parser.destroy();
    // The source stops too (a consumer that gave up, or a csv-parse error).
    await chunks.return?.();
  }
}

/** A csv-parse error whose "at line N" counts from where csv-parse started: counted from the body's start. */
function renumbered(error: unknown, lineOffset: number): unknown {
  const lines = (error as { lines?: unknown } | null)?.lines;
  if (lineOffset === 0 || typeof lines !== 'number' || !(error instanceof Error)) return error;
  error.message = error.message.replace(`at line ${lines}`, `at line ${lines + lineOffset}`);
  Object.assign(error, { lines: lines + lineOffset });
  return error;
}
