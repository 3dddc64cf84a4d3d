/**
 * The gateway's forwarding step, on undici's dispatcher API: one `Agent` (a connection pool per
 * upstream origin) and, per call, one handler object that writes the upstream's answer straight
 * into the caller's response as it arrives.
 *
 * Why not `@fastify/reply-from` (which Gatehouse used until the gateway bench measured it): it is
 * the same undici underneath, but it wraps each answer in a `Readable`, pipes that through
 * fastify's stream sending, parses the upstream URL per call and copies every header twice. On
 * the bench's GET (bench/gateway-cpu.mjs), fastify + reply-from cost 50–60 µs of CPU per call and
 * fastify + this handler 35–40 µs, the same work done. What this file does by hand is the part a
 * proxy must get right, each written once below: hop-by-hop headers (and the ones the peer's
 * `Connection` names) dropped both ways, back-pressure both ways (undici pauses the upstream while
 * the caller's socket is full; the request body is a stream undici pulls), a caller who goes away
 * aborts the upstream request, and a failure before the answer began is an error the app's error
 * handler serialises (502, 504), after it a cut-off response.
 *
 * The response is written on `reply.raw` after `reply.hijack()`, so fastify's `onSend` hooks do
 * not run for a forwarded answer (nothing to compress or drain: the body was the upstream's), but
 * its `onResponse` hooks (metrics) do.
 */
import type { Readable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Agent, type Dispatcher } from 'undici';
import { Lru } from '../../lru.js';

/**
 * Connections per upstream origin (undici keeps them alive between calls), one request at a time on
 * each (no pipelining: a slow answer must not hold up the calls behind it), idle ones closed after
 * 30 s (below the usual 60 s of an upstream's keep-alive, so Gatehouse closes first and never sends
 * on a connection the upstream is closing).
 */
export const UPSTREAM_POOL = { connections: 128, pipelining: 1, keepAliveTimeout: 30_000 } as const;

/** RFC 9110 §7.6.1 connection-specific headers, and the proxy ones: never forwarded either way. */
export const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/** The header names a `Connection` header lists (RFC 9110 §7.6.1: they are hop-by-hop too). */
export function connectionOptions(value: string | string[] | undefined): string[] {
  if (value === undefined) return [];
  const names: string[] = [];
  for (const token of (Array.isArray(value) ? value.join(',') : value).split(',')) {
    const name = token.trim().toLowerCase();
    if (name !== '' && name !== 'close' && name !== 'keep-alive') names.push(name);
  }
  return names;
}

/** A collection's upstream URL taken apart once: undici wants the origin and the path separately. */
interface UpstreamBase {
  readonly origin: string;
  /** The Host the upstream is sent (host[:port] as in the URL). */
  readonly host: string;
  /** The URL's path without its trailing slash ('' for none): the calls' paths go after it. */
  readonly basePath: string;
}

/** By upstream URL (collections are few; the bound only keeps edited-away URLs from piling up). */
const upstreamBases = new Lru<string, UpstreamBase>(1_000);

function upstreamBaseOf(upstreamUrl: string): UpstreamBase {
  let base = upstreamBases.get(upstreamUrl);
  if (base === undefined) {
    const url = new URL(upstreamUrl);
    base = { origin: url.origin, host: url.host, basePath: url.pathname === '/' ? '' : url.pathname };
    upstreamBases.set(upstreamUrl, base);
  }
  return base;
}

/**
 * Characters a path and query may carry as they are: RFC 3986's unreserved, sub-delims, `:`, `@`,
 * `/`, `?` and `%` (escapes). Anything else (a quote, a brace, a non-ASCII character that Node's
 * parser let through) is escaped by WHATWG URL parsing, as an upstream expects.
 */
const PLAIN_TARGET = /^[A-Za-z0-9\-._~!$&'()*+,;=:@/?%]*$/;

/** A collection's upstream URL (validated http(s), possibly with a base path) + path + query. */
export function upstreamTarget(
  upstreamUrl: string,
  pathAndQuery: string,
): { base: UpstreamBase; path: string } {
  const base = upstreamBaseOf(upstreamUrl);
  const joined = `${base.basePath}${pathAndQuery}`;
  if (PLAIN_TARGET.test(joined)) return { base, path: joined };
  const parsed = new URL(`${base.origin}${joined}`);
  return { base, path: `${parsed.pathname}${parsed.search}` };
}

/** What the caller's side of a forwarded call is told as it goes. */
export interface ForwardObserver {
  /** The request is about to be sent upstream. */
  forwarding(): void;
  /** The upstream's answer began (status and headers in: `answered`) or failed: the upstream latency ends. */
  upstreamDone(answered: boolean): void;
  /** Bytes of the answer's body, as they are written to the caller. */
  countOut(bytes: number): void;
}

export interface ForwardRequest {
  readonly request: FastifyRequest;
  readonly reply: FastifyReply;
  readonly upstreamUrl: string;
  /** Path (already the upstream's) and query, as sent. */
  readonly pathAndQuery: string;
  /** The request headers the upstream gets, all but Host (set here to the upstream's). */
  readonly headers: Record<string, string | string[]>;
  /** Headers of Gatehouse's that win over the upstream's (RateLimit-*). */
  readonly overrideHeaders: Readonly<Record<string, string>>;
  readonly timeoutMs: number;
  readonly observer: ForwardObserver;
  /** The error to answer with when the call fails before its answer began (502, 504). */
  readonly failure: (error: Error & { code?: string }) => Error;
}

/** undici's error codes for an upstream that took longer than the endpoint's timeout to answer. */
export const TIMEOUT_CODES: ReadonlySet<string> = new Set([
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);

export class UpstreamForwarder {
  private readonly agent = new Agent(UPSTREAM_POOL);

  /**
   * Sends the call upstream. Resolves once the answer's status and headers are written to the caller
   * (the body follows as it arrives) or the caller has gone; rejects, having written nothing, when
   * the upstream could not be reached or did not answer in time.
   */
  forward(call: ForwardRequest): Promise<void> {
    const { base, path } = upstreamTarget(call.upstreamUrl, call.pathAndQuery);
    const headers = call.headers;
    headers.host = base.host;
    const body = call.request.body as Readable | undefined;
    return new Promise<void>((resolve, reject) => {
      const handler = new ForwardHandler(call, resolve, reject);
      call.observer.forwarding();
      this.agent.dispatch(
        {
          origin: base.origin,
          path,
          method: call.request.method as Dispatcher.HttpMethod,
          headers,
          body: body === undefined ? null : body,
          headersTimeout: call.timeoutMs,
          bodyTimeout: call.timeoutMs,
        },
        handler,
      );
    });
  }

  close(): Promise<void> {
    return this.agent.close();
  }
}

/** One call's handler (undici's DispatchHandler): the answer, written on the caller's response. */
class ForwardHandler implements Dispatcher.DispatchHandler {
  /** The answer's head is written: from here a failure can only cut the response off. */
  private started = false;
  private settled = false;

  constructor(
    private readonly call: ForwardRequest,
    private readonly resolve: () => void,
    private readonly reject: (error: Error) => void,
  ) {}

  onRequestStart(controller: Dispatcher.DispatchController): void {
    const response = this.call.reply.raw;
    if (response.destroyed) {
      controller.abort(new Error('The caller went away.'));
      return;
    }
    response.once('close', () => {
      if (!response.writableFinished) controller.abort(new Error('The caller went away.'));
    });
  }

  onResponseStart(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    upstreamHeaders: Record<string, string | string[]>,
  ): void {
    // 1xx interim answers (100 Continue, 103 Early Hints) are the upstream's own business.
    if (statusCode < 200) return;
    const { request, reply, observer, overrideHeaders } = this.call;
    observer.upstreamDone(true);
    if (reply.raw.destroyed) {
      controller.abort(new Error('The caller went away.'));
      this.callerGone();
      return;
    }
    if (statusCode > 599) {
      controller.abort(new Error(`The upstream answered with status ${statusCode}.`));
      this.fail(new Error(`invalid upstream status ${statusCode}`));
      return;
    }
    // Gatehouse's headers (X-Request-Id) unless the upstream sent its own, then the upstream's,
    // then RateLimit-*, which always win.
    const headers: Record<string, string | string[] | number> = {};
    const ours = reply.getHeaders();
    for (const name in ours) {
      const value = ours[name];
      if (value !== undefined) headers[name] = value as string | string[] | number;
    }
    const dropped = connectionOptions(upstreamHeaders.connection);
    for (const name in upstreamHeaders) {
      if (HOP_BY_HOP.has(name) || (dropped.length > 0 && dropped.includes(name))) continue;
      headers[name] = upstreamHeaders[name]!;
    }
    Object.assign(headers, overrideHeaders);
    // An HTTP/1 connection cannot take the next request before this one's body is read: close it
    // when the upstream answered before the caller finished sending.
    if (!request.raw.complete) headers.connection = 'close';
    try {
      reply.raw.writeHead(statusCode, headers);
    } catch (error) {
      // A header Node will not write (undici's parser is more lenient): nothing was sent yet, so
      // the caller gets the 502 and the upstream's answer is dropped.
      controller.abort(error as Error);
      this.fail(error as Error);
      return;
    }
    this.started = true;
    reply.hijack();
    this.settle();
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.call.observer.countOut(chunk.length);
    const response = this.call.reply.raw;
    if (!response.write(chunk)) {
      controller.pause();
      response.once('drain', () => controller.resume());
    }
  }

  onResponseEnd(): void {
    this.call.reply.raw.end();
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    this.call.observer.upstreamDone(false);
    if (this.started) {
      // The caller has part of the answer: all that can be said now is that it ended early.
      this.call.reply.raw.destroy(error);
      return;
    }
    if (this.call.reply.raw.destroyed) {
      this.callerGone();
      return;
    }
    this.fail(error);
  }

  /** Nothing can be answered: fastify is told so (hijack), and the call is logged by its close (499). */
  private callerGone(): void {
    this.call.reply.hijack();
    this.settle();
  }

  private settle(): void {
    if (this.settled) return;
    this.settled = true;
    this.resolve();
  }

  private fail(error: Error & { code?: string }): void {
    if (this.settled) return;
    this.settled = true;
    this.reject(this.call.failure(error));
  }
}
