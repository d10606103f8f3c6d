// What the API says about one route, in one place: the router's method and path, who may call it, the body and
// query it accepts, what it answers. route-table.ts lists every route so; the OpenAPI document (openapi.ts) is
// generated from that list, and request-body.ts validates with the very schemas listed there, so what is
// documented and what is enforced cannot part.
import type { TSchema } from '@sinclair/typebox';
import type { Action } from './roles.js';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/**
 * Who may call: anyone ('public'), a user whose role permits the action (roles.ts), the device named in the path
 * ('device', its bearer token), or a user or device with HTTP Basic credentials ('registry-credentials').
 */
export type RouteAccess = 'public' | 'device' | 'registry-credentials' | { action: Action };

export interface RouteResponse {
  description: string;
  schema?: TSchema;
  /** Defaults to application/json when there is a schema. */
  mediaType?: string;
}

export interface RouteSpec {
  method: HttpMethod;
  /** As the router matches it, with `:name` parameters. */
  path: string;
  summary: string;
  access: RouteAccess;
  /** The JSON body the route reads; readBody rejects anything else with a 400 naming the field. */
  body?: TSchema;
  /** What the body is, for error messages ("the new fleet is invalid: /name: ..."). */
  bodyName?: string;
  /** A body that is no JSON (a file upload), streamed by the handler itself: its media type and what it is. */
  rawBody?: { mediaType: string; description: string };
  /** A body that is valid: shown in the document, and the start of the malformed-input tests' mutations. */
  example?: unknown;
  /** The query parameters (all strings on the wire); readQuery validates against it. */
  query?: TSchema;
  /** Success answers by status; the error answers (problem+json) are added from `access`, `body` and `query`. */
  responses: Readonly<Record<number, RouteResponse>>;
}

/** The route's `:name` parameters, in order. */
export function pathParameters(path: string): string[] {
  return [...path.matchAll(/:([A-Za-z0-9_]+)/g)].map((m) => m[1]!);
}

export function routeLabel(route: Pick<RouteSpec, 'method' | 'path'>): string {
  return `${route.method} ${route.path}`;
}
