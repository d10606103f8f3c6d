// GET /v1/audit: who changed what and when, newest first, by fleet or device, paged with `before`.
import type Router from '@koa/router';
import { Type } from '@sinclair/typebox';
import { AUDIT_DEFAULT_LIMIT, AUDIT_MAX_LIMIT } from '../../protocol/access.js';
import { paths } from '../../protocol/api.js';
import { parse, ValidationError } from '../../protocol/validate.js';
import type { AccessControl, ApiState } from '../auth.js';
import type { RouteDeps } from '../deps.js';
import { badRequest } from '../problem.js';

const Digits = (max: number) => Type.String({ pattern: `^[1-9][0-9]{0,${max}}$` });

/** Query values arrive as text; one value each, nothing unknown. */
const AuditQueryTextSchema = Type.Object({
  fleet: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  device: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  before: Type.Optional(Digits(15)),
  limit: Type.Optional(Digits(3)),
}, { additionalProperties: false });

export function auditRoutes(router: Router<ApiState>, deps: RouteDeps, access: AccessControl): void {
  router.get(paths.audit, access.allow('audit.read'), async (ctx) => {
    let query;
    try {
      query = parse(AuditQueryTextSchema, { ...ctx.query }, 'the audit query');
    } catch (err) {
      if (err instanceof ValidationError) throw badRequest('invalid-query', err.message, err.issues);
      throw err;
    }
    const limit = query.limit === undefined ? AUDIT_DEFAULT_LIMIT : Number(query.limit);
    if (limit > AUDIT_MAX_LIMIT) throw badRequest('invalid-query', `limit ${limit} is above the maximum of ${AUDIT_MAX_LIMIT}`);
    ctx.body = await deps.store.audit.list({
      limit,
      ...(query.fleet === undefined ? {} : { fleet: query.fleet }),
      ...(query.device === undefined ? {} : { device: query.device }),
      ...(query.before === undefined ? {} : { before: Number(query.before) }),
    });
  });
}
