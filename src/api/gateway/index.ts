/**
 * The API platform's proxy (issue 14, spec 003): `/<collection prefix>/<endpoint path>` is
 * forwarded to the collection's upstream URL + the endpoint's upstream path, on undici
 * (forward.ts).
 *
 * One catch-all route (`/*`): Gatehouse's own routes are more specific and always win, and a
 * prefix can never be one of their first segments (RESERVED_PREFIXES). A path that names no
 * enabled collection, or no enabled endpoint of it, is handed to the app's not-found handler,
 * so it answers exactly as an unknown route does ("404 as if absent").
 *
 * The steps of a call, in order:
 *   1. collection by prefix (catalog in memory)             else 404 as an unknown route
 *   2. credential → principal (guard, GATEWAY surface)      401 (missing, wrong, disabled profile)
 *   3. the principal acts for an access profile             403
 *   4. the profile may call this collection                 403
 *   5. the caller's address is on the profile's allow-list  403
 *   6. endpoint by method and path                          else 404 as an unknown route
 *   7. the profile's policy (services/platform/limits.ts): a concurrency slot (maybe after a wait
 *      in the queue), then rate and quota reserved in one counter operation   else 429
 *      The answer carries RateLimit-Limit/-Remaining/-Reset/-Policy; the slot is given back when
 *      the response closes (finished, failed, or the client went away).
 *   8. forward: method, parameters, query and body streamed both ways; the answer streamed back,
 *      status and headers as the upstream sent them (hop-by-hop headers aside). Unreachable → 502,
 *      no answer within the endpoint's timeout → 504, both naming the endpoint only.
 *
 * Bodies are never parsed here: the route's only content-type parser hands fastify the raw
 * request stream (through a byte counter), which undici pulls as it sends. Nothing is
 * compressed (the upstream's answer passes through as it came).
 *
 * Every call that got past step 1 is logged when its answer is over (call-log.ts, batched by
 * services/call-logs.ts): refused ones (401, 403, 404 at step 6) with their status as well.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  BadGatewayError,
  ClientClosedRequestError,
  ForbiddenError,
  GatewayTimeoutError,
} from '../../errors.js';
import { GATEWAY, type Guard, insufficientScope, invalidToken } from '../../guard/index.js';
import type { Services } from '../../services/index.js';
import {
  type CatalogEndpoint,
  type CatalogProfile,
  notAllowed,
  upstreamPathOf,
} from '../../services/platform/catalog.js';
import type { Admission } from '../../services/platform/limits.js';
import { API_TOKEN_HEADER, GATEWAY_SCOPE } from '../../services/platform/model.js';
import { ipAllowed } from '../../services/platform/validation.js';
import { can, type Principal } from '../../services/principal.js';
import { counted, startCall } from './call-log.js';
import { connectionOptions, HOP_BY_HOP, TIMEOUT_CODES, UpstreamForwarder } from './forward.js';

export interface GatewayRouteOptions {
  services: Services;
  guard: Guard;
}

/** The methods an endpoint can have (`ENDPOINT_METHODS`). */
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];

/**
 * What the upstream gets: the caller's headers without its credentials, the hop-by-hop ones (and
 * those its `Connection` names), `Expect` (Node's server answered it; undici cannot send it), `Host`
 * (the upstream's own is set when sending) and the headers only Gatehouse may set, which it adds.
 */
function upstreamHeaders(request: FastifyRequest, principal: Principal): Record<string, string | string[]> {
  const headers = request.headers;
  const out: Record<string, string | string[]> = {};
  const listed = connectionOptions(headers.connection);
  // for…in over the plain header object: no entries array per call (this runs on every call).
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined || HOP_BY_HOP.has(name) || name === 'authorization' || name === API_TOKEN_HEADER)
      continue;
    if (name === 'host' || name === 'expect' || (listed.length > 0 && listed.includes(name))) continue;
    if (name.startsWith('x-gatehouse-') || name.startsWith('x-forwarded-') || name === 'forwarded') continue;
    out[name] = value;
  }
  const prior = headers['x-forwarded-for'];
  const remote = request.raw.socket.remoteAddress ?? request.ip;
  out['x-forwarded-for'] = typeof prior === 'string' && prior.trim() !== '' ? `${prior}, ${remote}` : remote;
  out['x-forwarded-proto'] = request.protocol;
  if (typeof headers.host === 'string') out['x-forwarded-host'] = headers.host;
  out['x-request-id'] = request.id;
  if (principal.callerId !== undefined) out['x-gatehouse-client-id'] = principal.callerId;
  if (principal.profile !== undefined) out['x-gatehouse-profile'] = String(principal.profile.id);
  return out;
}

/** The policy step: admitted (headers set, the slot given back when the response closes) or a 429 thrown. */
async function admit(services: Services, profile: CatalogProfile, reply: FastifyReply): Promise<Admission> {
  let aborted: AbortSignal | undefined;
  if (profile.policy?.concurrency) {
    // A call waiting in the queue stops waiting when its client goes away.
    const controller = new AbortController();
    reply.raw.once('close', () => controller.abort());
    aborted = controller.signal;
  }
  const admission = await services.gatewayLimits.admit(profile, aborted);
  if (reply.raw.closed) {
    admission.release();
    throw new ClientClosedRequestError('The client went away before the call was forwarded.');
  }
  reply.raw.once('close', admission.release);
  for (const [name, value] of Object.entries(admission.headers)) reply.header(name, value);
  return admission;
}

function describe(endpoint: CatalogEndpoint): string {
  return `"${endpoint.name}" (${endpoint.method} ${endpoint.path})`;
}

/** undici's errors: no answer within the endpoint's timeout is 504; anything else (refused, reset, DNS, TLS) is 502. */
function upstreamFailure(endpoint: CatalogEndpoint, error: { code?: string }): Error {
  const details = { endpoint: { id: endpoint.id, name: endpoint.name } };
  if (error.code !== undefined && TIMEOUT_CODES.has(error.code)) {
    return new GatewayTimeoutError(
      `The upstream of endpoint ${describe(endpoint)} did not answer within ${endpoint.timeoutMs} ms.`,
      details,
    );
  }
  return new BadGatewayError(`The upstream of endpoint ${describe(endpoint)} could not be reached.`, details);
}

export async function gatewayRoutes(
  app: FastifyInstance,
  { services, guard }: GatewayRouteOptions,
): Promise<void> {
  // Never a retry: status codes and failures pass through (a retried POST could run twice).
  const forwarder = new UpstreamForwarder();
  app.addHook('onClose', () => forwarder.close());
  // The body stays a stream: no JSON (or any) parsing in this scope.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, payload, done) => done(null, counted(payload)));

  const handler = async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    const raw = request.raw.url ?? '/';
    const queryAt = raw.indexOf('?');
    const path = queryAt === -1 ? raw : raw.slice(0, queryAt);
    const query = queryAt === -1 ? '' : raw.slice(queryAt);
    const slash = path.indexOf('/', 1);
    const prefix = slash === -1 ? path.slice(1) : path.slice(1, slash);
    const rest = slash === -1 ? '' : path.slice(slash);

    const catalog = await services.platform.catalog();
    const collection = catalog.collections.get(prefix);
    if (collection === undefined) {
      reply.callNotFound();
      return reply;
    }
    const call = startCall(services.callLogs, services.ctx.clock, request, reply, collection.id, path);

    const principal = await guard.authenticate(request, GATEWAY);
    request.principal = principal;
    call.profileId = principal.profile?.id ?? null;
    call.clientId = principal.callerId ?? null;
    if (principal.profile === undefined) {
      throw new ForbiddenError(
        'This credential belongs to no access profile; the API platform takes only those.',
        {
          reason: 'no_access_profile',
        },
      );
    }
    if (principal.kind === 'client' && !can(principal, null, GATEWAY_SCOPE)) {
      throw insufficientScope(GATEWAY_SCOPE, { scope: GATEWAY_SCOPE });
    }
    const profile = catalog.profiles.get(principal.profile.id);
    if (profile === undefined || !profile.enabled)
      throw invalidToken(`The access profile "${principal.profile.name}" is disabled.`);
    if (!profile.collectionIds.has(collection.id)) throw notAllowed(profile.name, collection.name);
    if (!ipAllowed(profile.ipAllow, request.ip)) {
      throw new ForbiddenError(`The access profile "${profile.name}" may not call from ${request.ip}.`, {
        reason: 'ip_not_allowed',
      });
    }

    const match = catalog.match(collection, request.method, rest);
    if (match === undefined) {
      reply.callNotFound();
      return reply;
    }
    const { endpoint } = match;
    call.endpointId = endpoint.id;
    const { headers: limitHeaders } = await admit(services, profile, reply);
    await forwarder.forward({
      request,
      reply,
      upstreamUrl: collection.upstreamUrl,
      pathAndQuery: `${upstreamPathOf(match)}${query}`,
      headers: upstreamHeaders(request, principal),
      overrideHeaders: limitHeaders,
      timeoutMs: endpoint.timeoutMs,
      observer: call,
      failure: (error) => upstreamFailure(endpoint, error),
    });
    return reply;
  };

  app.route({
    method: METHODS,
    url: '/*',
    // Not in /openapi.json: the routes under it are data (collections and endpoints).
    schema: { hide: true },
    // The upstream's answer is sent as it came, and so is the caller's body: @fastify/compress,
    // registered for the whole app, would otherwise gunzip a `Content-Encoding: gzip` body and
    // forward the plain bytes under the gzip header and length (the upstream got garbage: 502).
    compress: false,
    decompress: false,
    handler,
  });
}
