// What a route of the registry-api is, declared once for both sides: its method and path, who may call it, the body
// and query it accepts, what it answers. The API registers its handlers against these declarations (access enforced,
// body and query validated with the very schemas declared here) and serves its OpenAPI document from them; the CLI
// and the supervisor build their requests from them with pathOf. This module loads no schema of its own, so the
// device's routes (device-api.ts) cost a supervisor nothing beyond the schemas it validates with anyway.
import { Type, type TArray, type TSchema } from '@sinclair/typebox';
import type { Action } from '../access.js';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/**
 * Who may call: anyone ('public'), a user whose role permits the action (the API's role table), the device named
 * in the path ('device', its bearer token), or a user or device with HTTP Basic credentials ('registry-credentials',
 * the image registry's token service, which checks them itself once it knows the registry is its own).
 */
export type RouteAccess = 'public' | 'device' | 'registry-credentials' | { readonly action: Action };

export interface RouteResponse {
  readonly description: string;
  readonly schema?: TSchema;
  /** Defaults to application/json when there is a schema. */
  readonly mediaType?: string;
}

export interface RouteSpec {
  readonly method: HttpMethod;
  /** As the router matches it, with `:name` parameters. */
  readonly path: string;
  readonly summary: string;
  readonly access: RouteAccess;
  /** The JSON body the route reads; the API rejects anything else with a 400 naming the field. */
  readonly body?: TSchema;
  /** What the body is, for error messages ("the new fleet is invalid: /name: ..."). */
  readonly bodyName?: string;
  /** A body that is no JSON (a file upload), streamed by the handler itself: its media type and what it is. */
  readonly rawBody?: { readonly mediaType: string; readonly description: string };
  /** A body that is valid: shown in the document, and the start of the malformed-input tests' mutations. */
  readonly example?: unknown;
  /** The query parameters (all strings on the wire). */
  readonly query?: TSchema;
  /** Success answers by status; the error answers (problem+json) follow from `access`, `body` and `query`. */
  readonly responses: Readonly<Record<number, RouteResponse>>;
}

/** The names of the `:name` parameters of a path, as a union ('fleet' | 'release'). */
export type PathParam<P extends string> = P extends `${string}:${infer Name}/${infer Rest}`
  ? Name | PathParam<`/${Rest}`>
  : P extends `${string}:${infer Name}`
    ? Name
    : never;

/** A value for each parameter of the path. */
export type PathParams<P extends string> = { readonly [K in PathParam<P>]: string };

const PARAMETER = /:([A-Za-z0-9_]+)/g;

/**
 * The path of `route` with each `:name` replaced by its value, URL-encoded (a release version or config var name
 * may hold any character). Routes without parameters take none.
 */
export function pathOf<P extends string>(
  route: { readonly path: P },
  ...[params]: [PathParam<P>] extends [never] ? [] : [PathParams<P>]
): string {
  return fillPath(route.path, params ?? {});
}

/** `path` with each `:name` replaced by its value, URL-encoded: pathOf for a caller generic over its routes. */
export function fillPath(path: string, values: Readonly<Record<string, string>>): string {
  return path.replace(PARAMETER, (_, name: string) => {
    const value = values[name];
    if (value === undefined) throw new Error(`the path ${path} needs a value for :${name}`);
    return encodeURIComponent(value);
  });
}

/** The route's `:name` parameters, in order. */
export function pathParameters(path: string): string[] {
  return [...path.matchAll(PARAMETER)].map((m) => m[1]!);
}

export function routeLabel(route: Pick<RouteSpec, 'method' | 'path'>): string {
  return `${route.method} ${route.path}`;
}

/** A success answer; with a schema, its JSON body. */
export function ok(description: string): { description: string };
export function ok<S extends TSchema>(description: string, schema: S): { description: string; schema: S };
export function ok(description: string, schema?: TSchema): RouteResponse {
  return schema === undefined ? { description } : { description, schema };
}

/** A success answer that is a JSON array of `schema`. */
export function listOf<S extends TSchema>(description: string, schema: S): { description: string; schema: TArray<S> } {
  return { description, schema: Type.Array(schema) };
}
