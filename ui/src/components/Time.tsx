/** A timestamp in the reader's locale, machine-readable in `datetime`; `—` (or `none`) when absent. */
export function Time({
  value,
  none = '—',
  dateOnly = false,
}: {
  value: string | null | undefined;
  none?: string;
  /** Show the day only (the full time stays in the tooltip); for narrow columns. */
  dateOnly?: boolean;
}) {
  if (!value) return <span class="muted">{none}</span>;
  const date = new Date(value);
  return (
    <time dateTime={value} title={date.toLocaleString(undefined, { dateStyle: 'full', timeStyle: 'long' })}>
      {dateOnly
        ? date.toLocaleDateString(undefined, { dateStyle: 'medium' })
        : date.toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'short' })}
    </time>
  );
}

/** A status word as a badge (active, revoked, expired, disabled, …). */
export function Status({ value }: { value: string }) {
  return <span class={`badge badge-${value}`}>{value}</span>;
}
