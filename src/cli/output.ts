/** Plain-text tables and JSON output for list/show commands. */
import type { Writable } from 'node:stream';

export function writeJson(out: Writable, value: unknown): void {
  out.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** A left-aligned table with a header row; `columns` maps header → cell text. */
export function writeTable<T>(out: Writable, rows: readonly T[], columns: Record<string, (row: T) => unknown>): void {
  const headers = Object.keys(columns);
  const cells = rows.map((row) => headers.map((h) => formatCell(columns[h]!(row))));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i]!.length)));
  const line = (values: string[]) =>
    values
      .map((v, i) => (i === values.length - 1 ? v : v.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  out.write(`${line(headers)}\n`);
  for (const row of cells) out.write(`${line(row)}\n`);
}

/** `key: value` lines for a single record. */
export function writeRecord(out: Writable, record: Record<string, unknown>): void {
  const width = Math.max(...Object.keys(record).map((k) => k.length));
  for (const [key, value] of Object.entries(record)) out.write(`${`${key}:`.padEnd(width + 2)}${formatCell(value)}\n`);
}

function formatCell(value: unknown): string {
  if (value === null || value === undefined) return '-';
  if (Array.isArray(value)) return value.length === 0 ? '-' : value.join(', ');
  return String(value);
}
