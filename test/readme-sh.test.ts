/**
 * The README's shell examples run as written, in order, on a fresh instance: one real
 * `gatehouse serve` (SQLite, a fresh data directory at `./data` of a temporary working
 * directory, a free port) and one `sh -eu` running every ```sh block one after the other,
 * with `gatehouse` on the PATH (the built CLI) and real curl. The only substitution is the
 * server's address (`http://127.0.0.1:8080` → the free port); `$PASSWORD` and
 * `$ADMIN_PASSWORD` are the passwords the README says the reader chooses.
 *
 * It cannot pass silently: a block runs unless the line before its fence is
 * `<!-- not run by test/readme-sh.test.ts: <reason> -->`; each block must print its end
 * marker; every curl must answer 2xx (a wrapper records status and body), and a
 * `# → <status> <body>` comment must match the answer of the curl before it (`…` stands for
 * any text); a shell command in a fence other than ```sh fails the test.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_TEST_TIMEOUT, MAIN, type ServedCluster, startServe } from './helpers/cli.js';
import { freePort } from './helpers/net.js';

const README = fs.readFileSync(path.resolve(import.meta.dirname, '../README.md'), 'utf8');
const NOT_RUN = /^<!-- not run by test\/readme-sh\.test\.ts: (.+) -->$/;
const README_BASE = 'http://127.0.0.1:8080';
/** The passwords the README leaves to the reader. */
const READER_ENV = {
  PASSWORD: 'seven blue lanterns over the quay',
  ADMIN_PASSWORD: 'quiet harbour under winter stars',
};

interface Fence {
  lang: string;
  code: string;
  /** 1-based line of the opening fence. */
  line: number;
  /** Why it is not run, from the marker on the line before the fence. */
  notRun?: string;
}

function fences(text: string): Fence[] {
  const lines = text.split('\n');
  const out: Fence[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\S*)$/.exec(lines[i]!);
    if (open === null) continue;
    const end = lines.findIndex((line, j) => j > i && line === '```');
    expect(end, `README line ${i + 1}: the fence is closed`).toBeGreaterThan(i);
    const notRun = NOT_RUN.exec(lines[i - 1] ?? '')?.[1]?.trim();
    out.push({ lang: open[1]!, code: lines.slice(i + 1, end).join('\n'), line: i + 1, notRun });
    i = end;
  }
  return out;
}

/** Lines that are shell commands (not comments), where `curl` is run. */
function curlCount(code: string): number {
  return code
    .split('\n')
    .filter((line) => !line.trimStart().startsWith('#'))
    .reduce((n, line) => n + (line.match(/(^|[\s$(|;&])curl\s/g)?.length ?? 0), 0);
}

/** `# → 201 {"token":"gh_dev_…"}` comments, each with the number of curls before it in the block. */
function expectations(code: string): Array<{ status: number; body: string; curlsBefore: number }> {
  const lines = code.split('\n');
  const out: Array<{ status: number; body: string; curlsBefore: number }> = [];
  lines.forEach((line, i) => {
    const m = /^# → (\d{3}) (.+)$/.exec(line);
    if (m)
      out.push({ status: Number(m[1]), body: m[2]!, curlsBefore: curlCount(lines.slice(0, i).join('\n')) });
  });
  return out;
}

/** `…` matches any text; everything else literally; the whole body. */
function bodyPattern(shown: string): RegExp {
  const parts = shown.split('…').map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  return new RegExp(`^${parts.join('[\\s\\S]*?')}$`);
}

/** Records every curl's status and body in $GH_CURL_LOG/<n>.{status,body}; prints the body; fails unless 2xx. */
const PREAMBLE = `
GH_CURL_LOG="$(pwd)/.curl-log"
mkdir -p "$GH_CURL_LOG"
curl() {
  gh_n=$(( $(find "$GH_CURL_LOG" -name '*.status' | wc -l) + 1 ))
  gh_status=$(command curl -sS -o "$GH_CURL_LOG/$gh_n.body" -w '%{http_code}' "$@") || return 1
  printf '%s' "$gh_status" > "$GH_CURL_LOG/$gh_n.status"
  cat "$GH_CURL_LOG/$gh_n.body"
  echo
  case "$gh_status" in
    2??) ;;
    *) echo "curl answered HTTP $gh_status" >&2; return 1 ;;
  esac
}
`;

const all = fences(README);
const runnable = all.filter((fence) => fence.lang === 'sh' && fence.notRun === undefined);

describe('README shell examples', () => {
  it('puts every shell command in a ```sh block, and says why a block is not run', () => {
    const shellLike = /^\s*(\$ )?(gatehouse|curl|npm|npx|node|printf)\s/m;
    for (const fence of all) {
      if (fence.lang !== 'sh') {
        expect(
          shellLike.test(fence.code),
          `README line ${fence.line}: a shell command in a \`\`\`${fence.lang} fence`,
        ).toBe(false);
      }
      if (fence.notRun !== undefined)
        expect(fence.notRun.length, `README line ${fence.line}: a reason`).toBeGreaterThan(10);
    }
    expect(runnable.length).toBeGreaterThanOrEqual(4);
    // Only the address is substituted: nothing in a run block may point at another server.
    for (const fence of runnable) {
      expect(fence.code.replaceAll(README_BASE, ''), `README line ${fence.line}`).not.toMatch(
        /:8080\b|localhost:/,
      );
    }
  });

  describe('run in order against a fresh `gatehouse serve`', () => {
    let dir: string;
    let server: ServedCluster | undefined;
    let base: string;
    let env: Record<string, string>;

    beforeAll(async () => {
      if (!fs.existsSync(MAIN)) throw new Error(`${MAIN} is missing: run \`npm run build\` first`);
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-readme-'));
      const bin = path.join(dir, '.bin');
      fs.mkdirSync(bin);
      // What `npm link` gives a reader: `gatehouse` on the PATH.
      fs.writeFileSync(
        path.join(bin, 'gatehouse'),
        `#!/bin/sh\nexec "${process.execPath}" "${MAIN}" "$@"\n`,
        {
          mode: 0o755,
        },
      );
      const port = await freePort();
      base = `http://127.0.0.1:${port}`;
      env = {
        PATH: `${bin}:${path.dirname(process.execPath)}:${process.env.PATH ?? ''}`,
        HOME: dir,
        PORT: String(port),
        GATEHOUSE_WORKERS: '1',
      };
      server = await startServe(env, 60_000, dir);
    }, CLI_TEST_TIMEOUT);

    afterAll(async () => {
      await server?.stop();
      if (dir !== undefined) fs.rmSync(dir, { recursive: true, force: true });
    });

    it(
      'every ```sh block succeeds and every curl answers as the README shows',
      async () => {
        const script = [
          PREAMBLE,
          ...runnable.map(
            (fence, n) =>
              `# README line ${fence.line}\n${fence.code.replaceAll(README_BASE, base)}\necho "::readme block ${n} ok"\n`,
          ),
        ].join('\n');
        fs.writeFileSync(path.join(dir, 'readme.sh'), script);
        const result = await new Promise<{ code: number | null; stdout: string; stderr: string }>(
          (resolve, reject) => {
            const child = spawn('sh', ['-eux', 'readme.sh'], {
              cwd: dir,
              env: { ...env, GATEHOUSE_LOG_LEVEL: 'warn', ...READER_ENV },
              stdio: ['ignore', 'pipe', 'pipe'],
            });
            let stdout = '';
            let stderr = '';
            child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
              stdout += chunk;
            });
            child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
              stderr += chunk;
            });
            child.on('error', reject);
            child.on('close', (code) => resolve({ code, stdout, stderr }));
          },
        );
        const done = [...result.stdout.matchAll(/^::readme block (\d+) ok$/gm)].map((m) => Number(m[1]));
        const failed = runnable[done.length];
        expect(
          result.code,
          failed === undefined
            ? result.stderr.slice(-3000)
            : `the block at README line ${failed.line} failed:\n${result.stderr.slice(-3000)}`,
        ).toBe(0);
        expect(done).toEqual(runnable.map((_, n) => n));

        const logDir = path.join(dir, '.curl-log');
        const answers = fs
          .readdirSync(logDir)
          .filter((name) => name.endsWith('.status'))
          .map((name) => Number.parseInt(name, 10))
          .sort((a, b) => a - b)
          .map((n) => ({
            status: Number(fs.readFileSync(path.join(logDir, `${n}.status`), 'utf8')),
            body: fs.readFileSync(path.join(logDir, `${n}.body`), 'utf8'),
          }));
        const curls = runnable.reduce((n, fence) => n + curlCount(fence.code), 0);
        expect(curls).toBeGreaterThan(0);
        expect(answers).toHaveLength(curls);
        let before = 0;
        let checked = 0;
        for (const fence of runnable) {
          for (const shown of expectations(fence.code)) {
            expect(
              shown.curlsBefore,
              `README line ${fence.line}: a "# →" comment follows a curl`,
            ).toBeGreaterThan(0);
            const answer = answers[before + shown.curlsBefore - 1]!;
            expect(answer.status, `README line ${fence.line}: # → ${shown.status} ${shown.body}`).toBe(
              shown.status,
            );
            expect(answer.body).toMatch(bodyPattern(shown.body));
            checked++;
          }
          before += curlCount(fence.code);
        }
        expect(checked).toBeGreaterThanOrEqual(3);
      },
      CLI_TEST_TIMEOUT,
    );
  });
});
