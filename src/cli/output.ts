/** Plain-text tables and JSON output for list/show commands. */
import type { Writable } from 'node:stream';

export function writeJson(out: Writable, value: unknown): void {
  out.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** A left-aligned table with a header row; `columns` maps header → cell text. */
export function writeTable<T>(
  out: Writable,
  rows: readonly T[],
  columns: Record<string, (row: T) => unknown>,
): void {
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
  for (const [key, value] of Object.entries(record))
    out.write(`${`${key}:`.padEnd(width + 2)}${formatCell(value)}\n`);
}

function formatCell(value: unknown): string {
  if (value === null || value === undefined) return '-';
  if (Array.isArray(value)) return value.length === 0 ? '-' : value.join(', ');
  return String(value);
}

/** The bootstrap admin just created by `serve` or `init`; a generated password is shown this once. */
export function printBootstrapAdmin(
  io: { stdout: Writable },
  admin: { email: string; generatedPassword?: string },
): void {
  if (admin.generatedPassword === undefined) {
    io.stdout.write(
      `Created the first admin ${admin.email} with the password from GATEHOUSE_ADMIN_PASSWORD.\n`,
    );
    return;
  }
  io.stdout.write(
    [
      '',
      '  First admin created. This password is shown once; you must change it at first sign-in.',
      `    email:    ${admin.email}`,
      `    password: ${admin.generatedPassword}`,
      '',
      '',
    ].join('\n'),
  );
}

/** `--json` prints `value` as JSON; otherwise `text` writes the human form. */
export function emit(out: Writable, json: boolean | undefined, value: unknown, text: () => void): void {
  if (json) writeJson(out, value);
  else text();
}

/** The hint under a table when there is another page. */
export function writeNextPage(out: Writable, nextCursor: string | null): void {
  if (nextCursor !== null) out.write(`(more: repeat with --cursor ${nextCursor})\n`);
}
