// GET /v1/audit: who changed what and when, newest first, by fleet or device, paged with `before`.
import type Router from '@koa/router';
import { AUDIT_DEFAULT_LIMIT, AUDIT_MAX_LIMIT } from '../../../protocol/access.js';
import type { AccessControl, ApiState } from '../auth.js';
import type { RouteDeps } from '../../deps.js';
import { badRequest } from '../problem.js';
import { readQuery } from '../request-body.js';
import { ROUTES } from '../route-table.js';

export function auditRoutes(router: Router<ApiState>, deps: RouteDeps, access: AccessControl): void {
  router.get(ROUTES.audit.path, access.allow('audit.read'), async (ctx) => {
    // Query values arrive as text; one value each, nothing unknown (the table's schema says so).
    const query = readQuery(ctx, ROUTES.audit);
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
