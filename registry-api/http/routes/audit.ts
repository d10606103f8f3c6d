// GET /v1/audit: who changed what and when, newest first, by fleet or device, paged with `before`.
import { AUDIT_DEFAULT_LIMIT, AUDIT_MAX_LIMIT } from '../../../protocol/access.js';
import { ROUTES } from '../../../protocol/http/routes.js';
import type { RouteDeps } from '../../deps.js';
import { badRequest } from '../problem.js';
import type { Register } from '../register.js';

export function auditRoutes(on: Register, deps: RouteDeps): void {
  on(ROUTES.audit, async (ctx, request) => {
    // Query values arrive as text; one value each, nothing unknown (the declaration's schema says so).
    const query = request.query();
    const limit = query.limit === undefined ? AUDIT_DEFAULT_LIMIT : Number(query.limit);
    if (limit > AUDIT_MAX_LIMIT)
      throw badRequest('invalid-query', `limit ${limit} is above the maximum of ${AUDIT_MAX_LIMIT}`);
    ctx.body = await deps.store.audit.list({
      limit,
      ...(query.fleet === undefined ? {} : { fleet: query.fleet }),
      ...(query.device === undefined ? {} : { device: query.device }),
      ...(query.before === undefined ? {} : { before: Number(query.before) }),
    });
  });
}
