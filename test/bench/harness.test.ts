/**
 * The parts of `npm run bench` that need neither the bench's own dependencies nor the
 * network: its command line (help, usage errors) and how the issue-6 targets are judged
 * from a run's rows. (The load itself is never run by the test suite.)
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const BENCH = path.resolve(import.meta.dirname, '../../bench');

interface Row {
  id: string;
  requestsPerSecond?: number;
  p99?: number;
  vsPeer?: number;
  vsRaw?: number;
}
interface Goal {
  goal: string;
  measured: string;
  met: boolean | undefined;
}
interface ReportModule {
  evaluateGoals(rows: Map<string, Row>): Goal[];
  goalRows(goals: Goal[]): string[][];
}
const REPORT: string = path.join(BENCH, 'lib/report.mjs');
const report = (await import(REPORT)) as ReportModule;
interface SliceTarget {
  key: string;
  slice(seconds: number): Promise<{ count: number }>;
}
interface LoadModule {
  measureInterleaved(
    autocannon: unknown,
    targets: SliceTarget[],
    options: { connections: number; warmup: number; duration: number; rounds: number },
  ): Promise<Map<string, { requestsPerSecond: number; total: number }>>;
}
const LOAD: string = path.join(BENCH, 'lib/load.mjs');
const load = (await import(LOAD)) as LoadModule;

function runBench(args: string[]) {
  return spawnSync(process.execPath, [path.join(BENCH, 'run.mjs'), ...args], { encoding: 'utf8' });
}

describe('npm run bench: command line', () => {
  it('--help prints the usage and exits 0 without installing or building anything', () => {
    const result = runBench(['--help']);
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/^npm run bench -- \[options\]\n/);
    for (const option of [
      '--duration',
      '--warmup',
      '--rounds',
      '--quick',
      '--connections',
      '--workers',
      '--only',
      '--pg',
      '--profile',
    ]) {
      expect(result.stdout).toContain(option);
    }
  });

  it.each([
    [['--bogus']],
    [['--duration', 'soon']],
    [['--only', 'hs256']],
    [['--connections', '0']],
    [['--rounds', '0']],
  ])('%j is a usage error: exit 2 with a message on stderr', (args) => {
    const result = runBench(args);
    expect(result.status).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr.length).toBeGreaterThan(0);
  });
});

describe('npm run bench: judging the targets of issue 6', () => {
  const rows = (list: Row[]) => new Map(list.map((row) => [row.id, row]));

  it('marks each target met or not from the ratios and p99 latencies of the run', () => {
    const goals = report.evaluateGoals(
      rows([
        { id: 'gh-token-rs256', vsPeer: 1.5, vsRaw: 0.74, p99: 40 },
        { id: 'gh-token-es256', vsPeer: 2.99, p99: 10.5 },
        { id: 'gh-token-eddsa', vsPeer: 3.2 },
        { id: 'gh-bearer-jwt', vsRaw: 0.6 },
        { id: 'gh-bearer-dev', vsRaw: 0.59 },
      ]),
    );
    expect(report.goalRows(goals)).toEqual([
      ['Token endpoint RS256 ≥ 1.5× the peer', '1.50×', 'met'],
      ['Token endpoint RS256 ≥ 75 % of raw RS256 signing', '74 %', 'NOT met'],
      ['Token endpoint ES256 ≥ 3× the peer', '2.99×', 'NOT met'],
      ['Token endpoint EdDSA ≥ 3× the peer', '3.20×', 'met'],
      ['Bearer-protected GET (JWT) ≥ 60 % of bare fastify GET', '60 %', 'met'],
      ['Bearer-protected GET (developer token) ≥ 60 % of bare fastify GET', '59 %', 'NOT met'],
      ['p99 at 50 connections, RS256 ≤ 40 ms', '40 ms', 'met'],
      ['p99 at 50 connections, ES256 ≤ 10 ms', '10.5 ms', 'NOT met'],
    ]);
  });

  it('says "not measured" for targets whose scenario did not run or failed', () => {
    const goals = report.evaluateGoals(rows([{ id: 'gh-token-rs256', vsPeer: 2 }]));
    expect(goals.filter((g) => g.met === undefined).map((g) => g.measured)).toEqual([
      '—',
      '—',
      '—',
      '—',
      '—',
      '—',
      '—',
    ]);
    expect(report.goalRows(goals)[1]).toEqual([
      'Token endpoint RS256 ≥ 75 % of raw RS256 signing',
      '—',
      'not measured',
    ]);
  });
});

describe('npm run bench: targets compared with each other take turns', () => {
  it('warms each target up, then rotates the order every round; rates are all work over all measured time', async () => {
    const calls: string[] = [];
    const target = (key: string, perSecond: number): SliceTarget => ({
      key,
      async slice(seconds) {
        calls.push(`${key}:${seconds}`);
        return { count: perSecond * seconds };
      },
    });
    const results = await load.measureInterleaved(
      undefined,
      [target('a', 100), target('b', 30), target('c', 7)],
      {
        connections: 1,
        warmup: 0.5,
        duration: 6,
        rounds: 3,
      },
    );
    expect(calls).toEqual([
      ...['a:0.5', 'b:0.5', 'c:0.5'],
      ...['a:2', 'b:2', 'c:2'],
      ...['b:2', 'c:2', 'a:2'],
      ...['c:2', 'a:2', 'b:2'],
    ]);
    expect([...results.entries()].map(([key, r]) => [key, r.requestsPerSecond, r.total])).toEqual([
      ['a', 100, 600],
      ['b', 30, 180],
      ['c', 7, 42],
    ]);
  });
});
