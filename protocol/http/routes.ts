// Every route of the registry-api, once, by name: what the API registers its handlers against, what its OpenAPI
// document is made of, what the CLI calls. A supervisor imports device-api.ts alone, never this module: the people's
// routes and their schemas are no business of a device and would cost it memory.
import { AUTH_ROUTES } from './auth.js';
import { CONFIG_ROUTES } from './config.js';
import { DEVICE_ACTION_API_ROUTES, DEVICE_ACTION_ROUTES } from './device-actions.js';
import { DEVICE_API_ROUTES } from './device-api.js';
import { DEVICE_GROUP_ROUTES } from './device-groups.js';
import { DEVICE_ROUTES } from './devices.js';
import { EVENT_ROUTES } from './events.js';
import { FLEET_ROUTES } from './fleets.js';
import { LIFECYCLE_ROUTES } from './lifecycle.js';
import { LOG_ROUTES } from './logs.js';
import { OS_ROUTES } from './os.js';
import { PROVISIONING_KEY_ROUTES } from './provisioning-keys.js';
import { DEVICE_RELEASE_FILE_ROUTES, RELEASE_FILE_ROUTES } from './release-files.js';
import { RELEASE_KEY_ROUTES } from './release-keys.js';
import { RELEASE_REVIEW_ROUTES } from './release-review.js';
import { DEVICE_REMOTE_ACCESS_ROUTES, REMOTE_ACCESS_ROUTES } from './remote-access.js';
import { ROLLOUT_ROUTES } from './rollouts.js';
import type { RouteSpec } from './route.js';
import { SERVICE_ROUTES } from './service.js';
import { USER_ROUTES } from './users.js';

export const ROUTES = {
  ...SERVICE_ROUTES,
  ...DEVICE_API_ROUTES,
  ...FLEET_ROUTES,
  ...DEVICE_ROUTES,
  ...USER_ROUTES,
  ...AUTH_ROUTES,
  ...CONFIG_ROUTES,
  ...OS_ROUTES,
  ...PROVISIONING_KEY_ROUTES,
  ...RELEASE_KEY_ROUTES,
  ...LOG_ROUTES,
  ...RELEASE_REVIEW_ROUTES,
  ...RELEASE_FILE_ROUTES,
  ...DEVICE_RELEASE_FILE_ROUTES,
  ...DEVICE_REMOTE_ACCESS_ROUTES,
  ...REMOTE_ACCESS_ROUTES,
  ...DEVICE_ACTION_ROUTES,
  ...DEVICE_ACTION_API_ROUTES,
  ...DEVICE_GROUP_ROUTES,
  ...LIFECYCLE_ROUTES,
  ...ROLLOUT_ROUTES,
  ...EVENT_ROUTES,
} as const satisfies Record<string, RouteSpec>;

export type RouteName = keyof typeof ROUTES;

/** The routes as a list, for the document and for checks. */
export function routeList(): RouteSpec[] {
  return Object.values(ROUTES);
}
