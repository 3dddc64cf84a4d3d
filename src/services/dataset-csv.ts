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
 * How: complete lines are taken from each chunk as bytes, decoded and split here: on commas, and
 * where a line holds quotes, around fields that are wholly quoted with no quote inside (`"a,b"`).
 * At the first line this cannot take — an escaped quote, a line break inside quotes (a field that
 * spans lines, maybe chunks), a stray quote, a line past the record limit, a UTF-16 byte-order
 * mark — the rest of the body, from the start of that line, byte for byte, goes to `csv-parse`
 * with the record delimiter already found, and stays there. `csv-parse`'s messages say "at line
 * N" counting from where it started; the lines read before are added, so the message is the one
 * a single `csv-parse` would give.
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
      // csv-parse takes the first CR, LF or CRLF outside quotes as the record delimiter. A first
      // line that `splitLine` takes has every quote closed, so its first break is outside quotes.
      const cr = pending.indexOf(CR);
      const lf = pending.indexOf(LF);
      const first = cr === -1 ? lf : lf === -1 ? cr : Math.min(cr, lf);
      const quote = pending.indexOf(QUOTE);
      const quotedFirstLine = quote !== -1 && (first === -1 || quote < first);
      if (first !== -1 && (first !== cr || cr + 1 < pending.length || ended)) {
        if (quotedFirstLine && splitLine(pending.toString('utf8', 0, first)) === undefined) {
          yield* fallback(pending, chunks, ended, options, undefined, 0);
          return;
        }
        delimiter = first === lf ? '\n' : pending[cr + 1] === LF ? '\r\n' : '\r';
      } else if (ended) {
        // One line and no break: a record unless it is empty.
        const fields =
          pending.length > options.maxRecordBytes ? undefined : splitLine(pending.toString('utf8'));
        if (fields === undefined) yield* fallback(pending, chunks, ended, options, undefined, 0);
        else if (pending.length > 0) yield [fields];
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
    // A line past the record limit goes to csv-parse, which says so if it must.
    let stop =
      end > options.maxRecordBytes ? firstLongLine(pending, end, delimiter, options.maxRecordBytes) : -1;
    const upto = stop === -1 ? end : stop;
    if (upto > 0) {
      const batch = splitLines(pending, upto, delimiter, options.skipEmptyLines);
      // A line this reader cannot split (a quoted field it does not take): csv-parse from there.
      const consumed = batch.failedAt === -1 ? upto : batch.failedAt;
      if (batch.failedAt !== -1) stop = consumed;
      lines += breaksIn(pending, consumed, delimiter, batch.lines);
      if (batch.records.length > 0) yield batch.records;
      pending = pending.subarray(consumed);
    }
    if (stop !== -1 || pending.length > options.maxRecordBytes) {
      yield* fallback(pending, chunks, ended, options, delimiter, lines);
      return;
    }
    if (ended) {
      // The last line, without a delimiter after it: a record unless it is empty.
      if (pending.length === 0) return;
      const fields = splitLine(pending.toString('utf8'));
      if (fields === undefined) yield* fallback(pending, chunks, ended, options, delimiter, lines);
      else yield [fields];
      return;
    }
    await more();
  }
}

/** The start of the first line in `buf[0, end)` longer than `max` bytes, or -1. */
function firstLongLine(buf: Buffer, end: number, delimiter: Delimiter, max: number): number {
  let start = 0;
  while (start < end) {
    const next = buf.indexOf(delimiter, start);
    const lineEnd = next === -1 || next >= end ? end : next;
    if (lineEnd - start > max) return start;
    start = lineEnd + delimiter.length;
  }
  return -1;
}

/**
 * The records of the complete lines `buf[0, end)`, how many lines they were, and where (in bytes)
 * the first line starts that `splitLine` cannot take (-1 when it took them all).
 */
function splitLines(
  buf: Buffer,
  end: number,
  delimiter: Delimiter,
  skipEmpty: boolean,
): { records: string[][]; lines: number; failedAt: number } {
  const text = buf.toString('utf8', 0, end - delimiter.length);
  const lines = text.split(delimiter);
  const records: string[][] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.length === 0 && skipEmpty) continue;
    const fields = line.indexOf('"') === -1 ? line.split(',') : splitLine(line);
    if (fields === undefined) return { records, lines: i, failedAt: nthLineStart(buf, i, delimiter) };
    records.push(fields);
  }
  return { records, lines: lines.length, failedAt: -1 };
}

/**
 * The fields of one line, or undefined when csv-parse must read it: each field either holds no
 * quote, or is wholly quoted (`"a,b"`) with no quote inside and a comma or the line's end after
 * the closing quote. An escaped quote (`""` inside), a quote inside an unquoted field, or a
 * quoted field that goes on past the line (a line break inside quotes) are left to csv-parse,
 * which reads them (or refuses them) in its own words.
 */
function splitLine(line: string): string[] | undefined {
  if (line.indexOf('"') === -1) return line.split(',');
  const fields: string[] = [];
  let at = 0;
  for (;;) {
    if (line.charCodeAt(at) === QUOTE) {
      const close = line.indexOf('"', at + 1);
      if (close === -1) return undefined;
      fields.push(line.slice(at + 1, close));
      if (close + 1 === line.length) return fields;
      if (line.charCodeAt(close + 1) !== 44) return undefined; // ,
      at = close + 2;
    } else {
      const comma = line.indexOf(',', at);
      const field = comma === -1 ? line.slice(at) : line.slice(at, comma);
      if (field.indexOf('"') !== -1) return undefined;
      fields.push(field);
      if (comma === -1) return fields;
      at = comma + 1;
    }
  }
}

/** Where line `n` (from 0) of `buf` starts, in bytes: after its n-th record delimiter. */
function nthLineStart(buf: Buffer, n: number, delimiter: Delimiter): number {
  let at = 0;
  for (let i = 0; i < n; i++) at = buf.indexOf(delimiter, at) + delimiter.length;
  return at;
}

/** csv-parse's line count for `buf[0, end)`: its CR and LF bytes, a CRLF delimiter counting once. */
function breaksIn(buf: Buffer, end: number, delimiter: Delimiter, lineCount: number): number {
  if (delimiter === '\n') return lineCount + countByte(buf, CR, 0, end);
  if (delimiter === '\r') return lineCount + countByte(buf, LF, 0, end);
  return countByte(buf, CR, 0, end) + countByte(buf, LF, 0, end) - lineCount;
}

/**
 * The rest of the body through csv-parse: `first`, then what `chunks` still gives, in batches of
 * the records it has ready. `lineOffset` lines were read before `first`; csv-parse's messages are renumbered.
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
    // Batches of what the parser has ready, so a record costs no extra hop through this generator.
    let batch: string[][] = [];
    for await (const record of parser as AsyncIterable<string[]>) {
      batch.push(record);
      if (parser.readableLength === 0 || batch.length >= 1000) {
        yield batch;
        batch = [];
      }
    }
    if (batch.length > 0) yield batch;
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
