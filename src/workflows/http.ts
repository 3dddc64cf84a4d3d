/**
 * The `http` step: one request (plus retries) to a host on
 * GATEHOUSE_WORKFLOW_HTTP_ALLOW, so a workflow cannot be turned against
 * internal services. The allow list is checked on the resolved URL's host[:port]
 * before every attempt and every redirect; redirects to another host are not followed.
 */
import { jsonNestsDeeperThan } from '../json-depth.js';
import type { HttpMethod } from './definition.js';

export class StepError extends Error {
  constructor(
    message: string,
    /** Whether another attempt may succeed (network error, timeout, 429, 5xx). */
    readonly retryable = false,
  ) {
    super(message);
    this.name = 'StepError';
  }
}

export interface HttpRequestSpec {
  method: HttpMethod;
  url: string;
  headers: Record<string, string>;
  body?: unknown;
  timeoutMs: number;
}

export interface HttpResult {
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

/** What a response may be to become a step output (GATEHOUSE_WORKFLOW_MAX_VALUE_BYTES, GATEHOUSE_MAX_JSON_DEPTH). */
export interface ResponseLimits {
  maxBodyBytes: number;
  maxDepth: number;
}

const DEFAULT_PORTS: Record<string, string> = { 'http:': '80', 'https:': '443' };
const MAX_REDIRECTS = 5;
const DEFAULT_LIMITS: ResponseLimits = { maxBodyBytes: 1024 * 1024, maxDepth: 64 };

/**
 * `api.example.com` allows that host on the scheme's default port; `api.example.com:8443`
 * that port only; `*.example.com` any sub-domain (not the apex) on the default port.
 */
export function isHostAllowed(url: URL, allow: readonly string[]): boolean {
  const host = url.hostname.toLowerCase();
  const port = url.port || DEFAULT_PORTS[url.protocol] || '';
  const isDefaultPort = port === DEFAULT_PORTS[url.protocol];
  for (const entry of allow) {
    const match = /^(.*?)(?::(\d{1,5}))?$/.exec(entry);
    if (!match) continue;
    const entryHost = match[1]!.toLowerCase();
    const entryPort = match[2];
    const portOk = entryPort === undefined ? isDefaultPort : entryPort === port;
    if (!portOk) continue;
    if (entryHost.startsWith('*.')) {
      if (host.endsWith(entryHost.slice(1)) && host.length > entryHost.length - 1) return true;
    } else if (entryHost === host) return true;
  }
  return false;
}

function checkUrl(raw: string, allow: readonly string[]): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new StepError(`"${raw}" is not a valid URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new StepError(`${url.protocol} URLs are not allowed`);
  if (url.username || url.password)
    throw new StepError('URLs with credentials are not allowed; use a header');
  if (!isHostAllowed(url, allow)) {
    throw new StepError(`host ${url.host} is not on GATEHOUSE_WORKFLOW_HTTP_ALLOW`);
  }
  return url;
}

async function readBody(response: Response, limits: ResponseLimits): Promise<unknown> {
  const reader = response.body?.getReader();
  if (!reader) return null;
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limits.maxBodyBytes) {
      await reader.cancel();
      throw new StepError(
        `the response body is larger than ${limits.maxBodyBytes} bytes (GATEHOUSE_WORKFLOW_MAX_VALUE_BYTES)`,
      );
    }
    chunks.push(value);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if ((response.headers.get('content-type') ?? '').includes('json') && text !== '') {
    if (jsonNestsDeeperThan(text, limits.maxDepth)) {
      throw new StepError(
        `the response body nests deeper than ${limits.maxDepth} levels (GATEHOUSE_MAX_JSON_DEPTH)`,
      );
    }
    try {
      return JSON.parse(text) as unknown;
    } catch {
      return text;
    }
  }
  return text;
}

/** One attempt: the request and any same-host redirects. `signal` aborts it (cancel, engine stop). */
export async function sendOnce(
  spec: HttpRequestSpec,
  allow: readonly string[],
  signal: AbortSignal,
  limits: ResponseLimits = DEFAULT_LIMITS,
): Promise<HttpResult> {
  let url = checkUrl(spec.url, allow);
  let method: string = spec.method;
  const headers: Record<string, string> = { ...spec.headers };
  let body: string | undefined;
  if (spec.body !== undefined && spec.body !== null && method !== 'GET' && method !== 'HEAD') {
    if (typeof spec.body === 'string') body = spec.body;
    else {
      body = JSON.stringify(spec.body);
      if (!Object.keys(headers).some((h) => h.toLowerCase() === 'content-type'))
        headers['content-type'] = 'application/json';
    }
  }
  const timeout = AbortSignal.timeout(spec.timeoutMs);
  const combined = AbortSignal.any([signal, timeout]);
  for (let hop = 0; ; hop++) {
    let response: Response;
    try {
      response = await fetch(url, { method, headers, body, redirect: 'manual', signal: combined });
    } catch (error) {
      if (signal.aborted) throw new StepError('canceled');
      if (timeout.aborted) throw new StepError(`timed out after ${spec.timeoutMs} ms`, true);
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      throw new StepError(
        `request failed: ${cause?.code ?? cause?.message ?? (error as Error).message}`,
        true,
      );
    }
    if (response.status >= 300 && response.status < 400 && response.headers.has('location')) {
      await response.body?.cancel();
      const next = new URL(response.headers.get('location')!, url);
      if (next.host !== url.host || next.protocol !== url.protocol) {
        throw new StepError(`redirect to another host (${next.host}) not followed`);
      }
      if (hop >= MAX_REDIRECTS) throw new StepError(`more than ${MAX_REDIRECTS} redirects`);
      url = checkUrl(next.href, allow);
      if (
        response.status === 303 ||
        ((response.status === 301 || response.status === 302) && method === 'POST')
      ) {
        method = 'GET';
        body = undefined;
      }
      continue;
    }
    let parsed: unknown;
    try {
      parsed = await readBody(response, limits);
    } catch (error) {
      if (error instanceof StepError) throw error;
      if (signal.aborted) throw new StepError('canceled');
      throw new StepError(`reading the response failed: ${(error as Error).message}`, true);
    }
    const responseHeaders: Record<string, string> = {};
    response.headers.forEach((value, key) => {
      responseHeaders[key] = value;
    });
    return { status: response.status, headers: responseHeaders, body: parsed };
  }
}
