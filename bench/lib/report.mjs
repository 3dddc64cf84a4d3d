/** The one table (terminal and Markdown), the goals of issue 6, and the JSON record. */
const fmt = {
  rate: (n) => (n === undefined ? '—' : n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(1)),
  ms: (n) => (n === undefined ? '—' : String(Math.round(n * 10) / 10)),
  ratio: (n) => (n === undefined ? '—' : `${n.toFixed(2)}×`),
  mb: (bytes) => (bytes ? `${Math.round(bytes / 1048576)}` : '—'),
};

export const COLUMNS = [
  'target',
  'req/s',
  'p50 ms',
  'p99 ms',
  'errors / non-2xx',
  '÷ peer',
  '÷ raw limit',
  'RSS MB',
];

export function tableRows(rows) {
  return rows.map((row) => [
    row.label,
    fmt.rate(row.requestsPerSecond),
    fmt.ms(row.p50),
    fmt.ms(row.p99),
    row.kind === 'raw-sign' ? '—' : `${row.errors ?? 0} / ${row.non2xx ?? 0}`,
    fmt.ratio(row.vsPeer),
    row.vsRaw === undefined ? '—' : `${Math.round(row.vsRaw * 100)} %`,
    fmt.mb(row.rssBytes),
  ]);
}

export function goalRows(goals) {
  return goals.map((goal) => [
    goal.goal,
    goal.measured,
    goal.met === undefined ? 'not measured' : goal.met ? 'met' : 'NOT met',
  ]);
}

export function markdownTable(header, rows) {
  const line = (cells) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

export function textTable(header, rows) {
  const widths = header.map((_, i) => Math.max(...[header, ...rows].map((r) => String(r[i]).length)));
  const line = (cells) =>
    cells.map((c, i) => (i === 0 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** Issue 6's targets, each checked against this run's numbers. */
export function evaluateGoals(rowsById) {
  const r = (id) => rowsById.get(id);
  const goals = [];
  const ratioGoal = (goal, id, field, min) => {
    const value = r(id)?.[field];
    goals.push({
      goal,
      measured:
        value === undefined
          ? '—'
          : field === 'vsRaw'
            ? `${Math.round(value * 100)} %`
            : `${value.toFixed(2)}×`,
      met: value === undefined ? undefined : value >= min,
    });
  };
  const latencyGoal = (goal, id, max) => {
    const value = r(id)?.p99;
    goals.push({
      goal,
      measured: value === undefined ? '—' : `${value} ms`,
      met: value === undefined ? undefined : value <= max,
    });
  };
  ratioGoal('Token endpoint RS256 ≥ 1.5× the peer', 'gh-token-rs256', 'vsPeer', 1.5);
  ratioGoal('Token endpoint RS256 ≥ 75 % of raw RS256 signing', 'gh-token-rs256', 'vsRaw', 0.75);
  ratioGoal('Token endpoint ES256 ≥ 3× the peer', 'gh-token-es256', 'vsPeer', 3);
  ratioGoal('Token endpoint EdDSA ≥ 3× the peer', 'gh-token-eddsa', 'vsPeer', 3);
  ratioGoal('Bearer-protected GET (JWT) ≥ 60 % of bare fastify GET', 'gh-bearer-jwt', 'vsRaw', 0.6);
  ratioGoal(
    'Bearer-protected GET (developer token) ≥ 60 % of bare fastify GET',
    'gh-bearer-dev',
    'vsRaw',
    0.6,
  );
  latencyGoal('p99 at 50 connections, RS256 ≤ 40 ms', 'gh-token-rs256', 40);
  latencyGoal('p99 at 50 connections, ES256 ≤ 10 ms', 'gh-token-es256', 10);
  return goals;
}
