// The routes of users, their API tokens, and the audit log of who changed what.
import { Type } from '@sinclair/typebox';
import {
  ApiTokenSchema,
  AuditEntrySchema,
  CreateTokenRequestSchema,
  CreateUserRequestSchema,
  FleetRoleSchema,
  GrantFleetRoleRequestSchema,
  NewApiTokenSchema,
  UserSchema,
} from '../access.js';
import { listOf, ok, type RouteSpec } from './route.js';

const Digits = (max: number) => Type.String({ pattern: `^[1-9][0-9]{0,${max}}$` });

export const USER_ROUTES = {
  me: {
    method: 'GET',
    path: '/v1/me',
    summary: 'The calling user',
    access: { action: 'read' },
    responses: { 200: ok('The user', UserSchema) },
  },
  listUsers: {
    method: 'GET',
    path: '/v1/users',
    summary: 'Every user',
    access: { action: 'user.manage' },
    responses: { 200: listOf('The users', UserSchema) },
  },
  createUser: {
    method: 'POST',
    path: '/v1/users',
    summary: 'Create a user',
    access: { action: 'user.manage' },
    body: CreateUserRequestSchema,
    bodyName: 'the new user',
    example: { name: 'dora', role: 'developer' },
    responses: { 201: ok('The user', UserSchema) },
  },
  listFleetRoles: {
    method: 'GET',
    path: '/v1/users/:name/fleet-roles',
    summary: "A user's roles on single fleets (each replaces the global role on its fleet)",
    access: { action: 'user.manage' },
    responses: { 200: listOf('The grants', FleetRoleSchema) },
  },
  grantFleetRole: {
    method: 'PUT',
    path: '/v1/users/:name/fleet-roles/:fleet',
    summary: 'Give a user a role on one fleet, replacing its global role there',
    access: { action: 'user.manage' },
    body: GrantFleetRoleRequestSchema,
    bodyName: 'the fleet role',
    example: { role: 'operator' },
    responses: { 200: ok('The grant', FleetRoleSchema) },
  },
  revokeFleetRole: {
    method: 'DELETE',
    path: '/v1/users/:name/fleet-roles/:fleet',
    summary: "Take a user's role on one fleet away: the global role applies there again",
    access: { action: 'user.manage' },
    responses: { 200: ok('The grant as it was', FleetRoleSchema) },
  },
  listTokens: {
    method: 'GET',
    path: '/v1/users/:name/tokens',
    summary: "A user's API tokens (never the secrets)",
    access: { action: 'token.manage' },
    responses: { 200: listOf('The tokens', ApiTokenSchema) },
  },
  createToken: {
    method: 'POST',
    path: '/v1/users/:name/tokens',
    summary: 'Create an API token; its secret is shown in this answer only',
    access: { action: 'token.manage' },
    body: CreateTokenRequestSchema,
    bodyName: 'the new token',
    example: { label: 'ci' },
    responses: { 201: ok('The token with its secret', NewApiTokenSchema) },
  },
  revokeToken: {
    method: 'DELETE',
    path: '/v1/users/:name/tokens/:id',
    summary: 'Revoke an API token',
    access: { action: 'token.manage' },
    responses: { 200: ok('The revoked token', ApiTokenSchema) },
  },
  audit: {
    method: 'GET',
    path: '/v1/audit',
    summary: 'Who changed what and when, newest first',
    access: { action: 'audit.read' },
    query: Type.Object(
      {
        fleet: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
        device: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
        before: Type.Optional(Digits(15)),
        limit: Type.Optional(Digits(3)),
      },
      { additionalProperties: false },
    ),
    responses: { 200: listOf('The entries', AuditEntrySchema) },
  },
} as const satisfies Record<string, RouteSpec>;
