/**
 * Calls and errors per bucket of time as a small bar chart: inline SVG drawn here from the
 * stats series (no chart library). Geometry goes in SVG attributes and colours in the
 * stylesheet (.chart-*), so it needs no inline style and passes the UI's CSP. Read as one image
 * whose description says the totals and the busiest bucket; each bar's <title> is its tooltip. The
 * times and the scale are HTML beside it, readable at any width.
 */
import { useId } from 'preact/hooks';

export interface SeriesPoint {
  start: string;
  calls: number;
  errors: number;
}

// The drawing's own units; the SVG scales to its box. Text lives in HTML around it, so it stays
// readable at any width.
const WIDTH = 640;
const HEIGHT = 150;
const LEFT = 0;
const BOTTOM = 1;
const TOP = 8;

function bucketWords(seconds: number): string {
  if (seconds % 86_400 === 0) return seconds === 86_400 ? 'day' : `${seconds / 86_400} days`;
  if (seconds % 3600 === 0) return seconds === 3600 ? 'hour' : `${seconds / 3600} hours`;
  if (seconds % 60 === 0) return seconds === 60 ? 'minute' : `${seconds / 60} minutes`;
  return `${seconds} seconds`;
}

function when(iso: string, withDate: boolean): string {
  const date = new Date(iso);
  return withDate
    ? date.toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'short' })
    : date.toLocaleTimeString(undefined, { timeStyle: 'short' });
}

/** A round top for the axis: 1, 2 or 5 × a power of ten, at least `max`. */
export function niceCeiling(max: number): number {
  if (max <= 1) return 1;
  const power = 10 ** Math.floor(Math.log10(max));
  for (const step of [1, 2, 5, 10]) if (step * power >= max) return step * power;
  return 10 * power;
}

export function CallsChart({ series, bucketSeconds }: { series: SeriesPoint[]; bucketSeconds: number }) {
  const titleId = useId();
  const descId = useId();
  const totalCalls = series.reduce((sum, p) => sum + p.calls, 0);
  const totalErrors = series.reduce((sum, p) => sum + p.errors, 0);
  const top = niceCeiling(Math.max(0, ...series.map((p) => p.calls)));
  const busiest = series.reduce<SeriesPoint | undefined>(
    (best, p) => (!best || p.calls > best.calls ? p : best),
    undefined,
  );
  const first = series[0];
  const last = series[series.length - 1];
  const spansDays =
    first && last ? new Date(last.start).getTime() - new Date(first.start).getTime() >= 86_400_000 : false;
  const plotWidth = WIDTH - LEFT;
  const plotHeight = HEIGHT - TOP - BOTTOM;
  const slot = plotWidth / Math.max(series.length, 1);
  const barWidth = Math.max(slot * 0.8, 0.5);
  const y = (value: number) => TOP + plotHeight - (value / top) * plotHeight;
  const bucket = bucketWords(bucketSeconds);
  const description =
    first && last
      ? `${totalCalls.toLocaleString()} calls and ${totalErrors.toLocaleString()} errors from ${when(first.start, true)} to ${when(last.start, true)}` +
        (busiest && busiest.calls > 0
          ? `; the busiest ${bucket} began ${when(busiest.start, true)} with ${busiest.calls.toLocaleString()} calls.`
          : '.')
      : 'No data.';
  return (
    <figure class="chart-figure">
      <svg
        class="chart"
        viewBox={`0 0 ${WIDTH} ${HEIGHT}`}
        role="img"
        aria-labelledby={titleId}
        aria-describedby={descId}
      >
        <title id={titleId}>Calls per {bucket}</title>
        <desc id={descId}>{description}</desc>
        <line class="chart-axis" x1={LEFT} y1={TOP + plotHeight} x2={WIDTH} y2={TOP + plotHeight} />
        <line class="chart-grid" x1={LEFT} y1={TOP} x2={WIDTH} y2={TOP} />
        {series.map((p, i) => {
          const x = LEFT + i * slot + (slot - barWidth) / 2;
          const tip = `${when(p.start, spansDays)}: ${p.calls.toLocaleString()} calls, ${p.errors.toLocaleString()} errors`;
          return (
            <g key={p.start}>
              <title>{tip}</title>
              {p.calls > 0 ? (
                <rect
                  class="chart-calls"
                  x={x}
                  y={y(p.calls)}
                  width={barWidth}
                  height={TOP + plotHeight - y(p.calls)}
                />
              ) : null}
              {p.errors > 0 ? (
                <rect
                  class="chart-errors"
                  x={x}
                  y={y(p.errors)}
                  width={barWidth}
                  height={TOP + plotHeight - y(p.errors)}
                />
              ) : null}
            </g>
          );
        })}
      </svg>
      {first && last ? (
        <div class="chart-times" aria-hidden="true">
          <span>{when(first.start, spansDays)}</span>
          <span>{when(last.start, spansDays)}</span>
        </div>
      ) : null}
      <figcaption class="chart-legend">
        <span class="legend-calls">calls</span> <span class="legend-errors">errors (5xx)</span>{' '}
        <span class="muted">
          per {bucket}; the dashed line is {top.toLocaleString()} calls
        </span>
      </figcaption>
    </figure>
  );
}
