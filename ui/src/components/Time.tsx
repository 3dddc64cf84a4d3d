/** A timestamp in the reader's locale, machine-readable in `datetime`; `—` (or `none`) when absent. */
export function Time({ value, none = '—' }: { value: string | null | undefined; none?: string }) {
  if (!value) return <span class="muted">{none}</span>;
  const date = new Date(value);
  return (
    <time dateTime={value} title={date.toISOString()}>
      {date.toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'short' })}
    </time>
  );
}

/** A status word as a badge (active, revoked, expired, disabled, …). */
export function Status({ value }: { value: string }) {
  return <span class={`badge badge-${value}`}>{value}</span>;
}
