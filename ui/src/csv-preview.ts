/**
 * The first rows of a DataSet's CSV export, for the Data page's preview: the export streams every
 * row (a DataSet may hold millions), so the page reads only until it has the rows it shows, then
 * cancels the download. Parses RFC 4180 CSV as Gatehouse writes it (quoted fields may hold commas,
 * quotes and line breaks; an empty field is null).
 */

/**
 * The complete records in `text`. Without `final`, a last record that no line break ends yet is
 * left out (the next chunk may continue it).
 */
export function csvRecords(text: string, final: boolean): string[][] {
  const records: string[][] = [];
  let record: string[] = [];
  let field = '';
  let quoted = false;
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i += 2;
      } else if (c === '"') {
        quoted = false;
        i += 1;
      } else {
        field += c;
        i += 1;
      }
    } else if (c === '"' && field === '') {
      quoted = true;
      i += 1;
    } else if (c === ',') {
      record.push(field);
      field = '';
      i += 1;
    } else if (c === '\n' || c === '\r') {
      record.push(field);
      records.push(record);
      record = [];
      field = '';
      i += c === '\r' && text[i + 1] === '\n' ? 2 : 1;
    } else {
      field += c;
      i += 1;
    }
  }
  if (final && (field !== '' || record.length > 0 || quoted)) {
    record.push(field);
    records.push(record);
  }
  return records;
}

/** Reads `stream` until it holds `limit` records (or ends), cancels the rest, and returns them. */
export async function firstCsvRecords(
  stream: ReadableStream<Uint8Array>,
  limit: number,
): Promise<string[][]> {
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  let text = '';
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return csvRecords(text + decoder.decode(), true).slice(0, limit);
      text += decoder.decode(value, { stream: true });
      const records = csvRecords(text, false);
      if (records.length >= limit) return records.slice(0, limit);
    }
  } finally {
    // Stops the download (and the server's export) once the preview has its rows.
    await reader.cancel().catch(() => undefined);
  }
}
