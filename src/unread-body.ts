/**
 * A request answered before its body was read to the end: an upload refused at its second row, a
 * stream part over the size limit. The body reader has stopped, so the rest of the body sits
 * unread in the socket; left alone the connection hangs (the client blocks writing, the server
 * never closes it) until a timeout. Closing at once is worse: a socket closed with unread data in
 * it sends a TCP reset, and a reset can reach the client before it has read the 4xx, which it then
 * never sees (the reason for nginx's "lingering close").
 *
 * So, once the answer has gone out, the rest of the body is read and thrown away (a client that
 * stops sending on the answer, as curl does, ends it quickly) and the connection stays alive for
 * the next request as usual. A client still sending after `UNREAD_BODY_LINGER_MS` is cut off: it
 * has had that long to read its answer. A body reader must therefore stop reading without
 * destroying the request (a destroyed request leaves its socket paused for good: it is then cut
 * off after the same delay). A body never touched is discarded by Node's HTTP server itself.
 */
import net from 'node:net';
import type { onSendHookHandler } from 'fastify';

/** How long the rest of an unread request body is drained before the connection is cut. */
export const UNREAD_BODY_LINGER_MS = 10_000;

/** An `onSend` hook: the socket is still the request's here (it is detached once the answer is out). */
export const drainUnreadBody: onSendHookHandler = (request, reply, payload, done) => {
  const raw = request.raw;
  const socket = raw.socket;
  // (`app.inject` requests have a stand-in socket and never set `complete`: nothing to drain.)
  if (!raw.complete && !raw.readableEnded && socket instanceof net.Socket) {
    reply.raw.once('finish', () => {
      if (raw.complete || raw.readableEnded) return;
      const cutOff = setTimeout(() => socket.destroy(), UNREAD_BODY_LINGER_MS);
      cutOff.unref();
      if (raw.destroyed) return;
      raw.once('end', () => clearTimeout(cutOff));
      // Whatever the route piped the body into is done with it; then the body flows into nothing.
      // The socket too is resumed: Node pauses it when the body's buffer fills, and only a read of
      // the body through the request would start it again.
      raw.unpipe();
      raw.resume();
      socket.resume();
    });
  }
  done(null, payload);
};
