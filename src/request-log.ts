/**
 * What a request's log lines say about it: the error the client got (code and message, noted by
 * whichever handler answered it) and who was calling (the principal the guard already resolved:
 * nothing is authenticated again to log it). Never a credential: the principal is named by its
 * kind and id only, and every line still goes through the logger's redaction.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';

declare module 'fastify' {
  interface FastifyReply {
    /** The error code and message this reply sends (null for a success); set by `noteError`. */
    sentError: SentError | null;
    /**
     * True once the API platform's call log records this request (api/gateway/call-log.ts): a
     * successful proxied call then gets no access-log line of its own (it is in the call log).
     */
    callLogged: boolean;
  }
}

export interface SentError {
  readonly code: string;
  readonly message: string;
}

/** Records the error a reply carries, for the request's access-log line. */
export function noteError(reply: FastifyReply, code: string, message: string): void {
  reply.sentError = { code, message };
}

/** The principal as a log field: kind, id and how it authenticated; undefined before the guard ran. */
export function principalField(
  request: FastifyRequest,
): { kind: string; id: string | number | null; via: string } | undefined {
  const principal = request.principal;
  if (principal === undefined) return undefined;
  const id =
    principal.kind === 'client'
      ? (principal.clientId ?? null)
      : principal.kind === 'profile'
        ? `profile:${principal.profile?.id ?? ''}`
        : (principal.user?.id ?? null);
  return { kind: principal.kind, id, via: principal.via };
}

/**
 * Whether a request gets its access-log line: every request but a gateway call that the call log
 * records and that succeeded (2xx/3xx). A refused or failed gateway call keeps its line, with the
 * error the client got, which the call log does not hold.
 */
export function accessLogged(reply: FastifyReply): boolean {
  return !reply.callLogged || reply.statusCode >= 400;
}

/**
 * The fields of the one access-log line of a request: method, path (no query string), status and
 * time; for a 4xx or 5xx also the error code and message the client got; the principal when known.
 */
export function accessLogFields(request: FastifyRequest, reply: FastifyReply): Record<string, unknown> {
  const fields: Record<string, unknown> = {
    method: request.method,
    url: request.url.split('?')[0],
    status: reply.statusCode,
    ms: Math.round(reply.elapsedTime),
  };
  if (reply.sentError !== null) {
    fields.error = reply.sentError.code;
    fields.message = reply.sentError.message;
  }
  const principal = principalField(request);
  if (principal !== undefined) fields.principal = principal;
  return fields;
}
