// GET /v1/openapi.json: the API's OpenAPI 3.1 document, made once from the route table it is enforced with.
import type Router from '@koa/router';
import type { ApiState } from '../auth.js';
import type { RouteDeps } from '../../deps.js';
import { openApiDocument } from '../openapi.js';
import { ROUTES } from '../route-table.js';

export function openApiRoutes(router: Router<ApiState>, deps: RouteDeps): void {
  const document = openApiDocument(ROUTES, deps.version);
  router.get(ROUTES.openapi.path, (ctx) => {
    ctx.body = document;
  });
}
