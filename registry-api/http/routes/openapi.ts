// GET /v1/openapi.json: the API's OpenAPI 3.1 document, made once from the route declarations it is enforced with.
import { ROUTES } from '../../../protocol/http/routes.js';
import type { RouteDeps } from '../../deps.js';
import { openApiDocument } from '../openapi.js';
import type { Register } from '../register.js';

export function openApiRoutes(on: Register, deps: RouteDeps): void {
  const document = openApiDocument(ROUTES, deps.version);
  on(ROUTES.openapi, (ctx) => {
    ctx.body = document;
  });
}
