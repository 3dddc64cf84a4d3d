/**
 * The API platform's call logs and dashboard counters (issue 14), behind `gateway.manage`:
 *
 *   GET /platform/logs    ?profile&collection&endpoint&status&from&to&limit&cursor → {items, nextCursor}
 *   GET /platform/stats   ?from&to&by=endpoint|profile&bucket → {totals, items, series, …}
 *
 * Read-only, so no audit events. The service checks the grant too (the CLI calls it directly).
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import type { AdminRouteOptions } from './index.js';
import { callLogsSchema, callStatsSchema } from './platform-logs-schemas.js';
import { requirePrincipal } from './principal.js';
import { needsGrant } from './session.js';

export async function platformLogRoutes(
  app: FastifyInstance,
  { services }: AdminRouteOptions,
): Promise<void> {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const manage = needsGrant('gateway.manage');
  r.get('/platform/logs', { schema: callLogsSchema, onRequest: manage }, async (request) =>
    services.callLogs.query(request.query, requirePrincipal(request)),
  );
  r.get('/platform/stats', { schema: callStatsSchema, onRequest: manage }, async (request) =>
    services.callLogs.stats(request.query, requirePrincipal(request)),
  );
}
