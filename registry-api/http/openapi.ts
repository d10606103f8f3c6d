// The OpenAPI 3.1 document of the API, generated from the route declarations (protocol/http/): TypeBox schemas are JSON Schema 2020-12,
// which is OpenAPI 3.1's schema dialect, so they go in as they are. Error answers are RFC 9457 problems.
import { ProblemSchema } from '../../protocol/api.js';
import { requirementText } from '../../protocol/access-policy.js';
import { pathParameters, type RouteAccess, type RouteSpec } from '../../protocol/http/route.js';

export type OpenApiDocument = Record<string, unknown>;

/** TypeBox keeps its bookkeeping under symbol keys; JSON is what the document is. */
const plain = (value: unknown): unknown => JSON.parse(JSON.stringify(value)) as unknown;

const PROBLEM = 'application/problem+json';
const problemAnswer = (description: string) => ({
  description,
  content: { [PROBLEM]: { schema: { $ref: '#/components/schemas/Problem' } } },
});

/** `/v1/fleets/:fleet` as OpenAPI writes it: `/v1/fleets/{fleet}`. */
export function openApiPath(path: string): string {
  return path.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

function securityOf(access: RouteAccess): Array<Record<string, string[]>> {
  if (access === 'public') return [];
  if (access === 'device') return [{ deviceToken: [] }];
  if (access === 'registry-credentials') return [{ registryCredentials: [] }];
  return [{ apiToken: [] }];
}

function accessText(access: RouteAccess): string {
  if (access === 'public') return 'Open to everyone.';
  if (access === 'device') return 'The device named in the path, with its bearer token.';
  if (access === 'registry-credentials') {
    return 'HTTP Basic: a user name and one of its API tokens, or a device uuid and its bearer token.';
  }
  return `Needs the role ${requirementText(access.action)} (action \`${access.action}\`).`;
}

function queryParameters(route: RouteSpec): unknown[] {
  const schema = route.query as { properties?: Record<string, unknown>; required?: string[] } | undefined;
  if (!schema?.properties) return [];
  const required = new Set(schema.required ?? []);
  return Object.entries(schema.properties).map(([name, property]) => ({
    name,
    in: 'query',
    required: required.has(name),
    schema: plain(property),
  }));
}

function operationOf(name: string, route: RouteSpec): Record<string, unknown> {
  const responses: Record<string, unknown> = {};
  for (const [status, answer] of Object.entries(route.responses)) {
    responses[status] = answer.schema
      ? {
          description: answer.description,
          content: { [answer.mediaType ?? 'application/json']: { schema: plain(answer.schema) } },
        }
      : { description: answer.description };
  }
  if (route.body || route.query)
    responses['400'] = problemAnswer('The body or query is not what this route takes; `errors` says where');
  if (route.access !== 'public') {
    responses['401'] = problemAnswer('No credentials, or not valid ones');
    if (route.access !== 'registry-credentials')
      responses['403'] = problemAnswer('The credentials are valid but may not do this');
  }
  if (pathParameters(route.path).length > 0) responses['404'] = problemAnswer('What the path names does not exist');
  if (route.body) {
    responses['413'] = problemAnswer('The body is too large');
    responses['415'] = problemAnswer('The body is not JSON');
  }
  if (route.rawBody) {
    responses['413'] = problemAnswer('The body is too large');
    responses['415'] = problemAnswer(`The body is not ${route.rawBody.mediaType}`);
  }
  const parameters = [
    ...pathParameters(route.path).map((p) => ({ name: p, in: 'path', required: true, schema: { type: 'string' } })),
    ...queryParameters(route),
  ];
  return {
    operationId: name,
    summary: route.summary,
    description: accessText(route.access),
    security: securityOf(route.access),
    ...(parameters.length > 0 ? { parameters } : {}),
    ...(route.body
      ? {
          requestBody: {
            required: true,
            content: {
              'application/json': {
                schema: plain(route.body),
                ...(route.example === undefined ? {} : { example: route.example }),
              },
            },
          },
        }
      : {}),
    ...(route.rawBody
      ? {
          requestBody: {
            required: true,
            description: route.rawBody.description,
            content: {
              [route.rawBody.mediaType]: { schema: { type: 'string', contentMediaType: route.rawBody.mediaType } },
            },
          },
        }
      : {}),
    responses,
  };
}

export function openApiDocument(routes: Readonly<Record<string, RouteSpec>>, version: string): OpenApiDocument {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const [name, route] of Object.entries(routes)) {
    const item = (paths[openApiPath(route.path)] ??= {});
    const method = route.method.toLowerCase();
    if (item[method])
      throw new Error(`the route declarations list ${route.method} ${route.path} twice (second time as '${name}')`);
    item[method] = operationOf(name, route);
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Skiff registry-api',
      version,
      description:
        'The fleet backend of Skiff: fleets, releases, devices, users. Every error answer is application/problem+json.',
    },
    paths,
    components: {
      schemas: { Problem: plain(ProblemSchema) },
      securitySchemes: {
        apiToken: { type: 'http', scheme: 'bearer', description: 'An API token of a user (skiff login).' },
        deviceToken: { type: 'http', scheme: 'bearer', description: 'The bearer token of a device.' },
        registryCredentials: {
          type: 'http',
          scheme: 'basic',
          description: 'user name + API token, or device uuid + device token.',
        },
      },
    },
  };
}
