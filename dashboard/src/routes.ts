// The API routes the dashboard calls, from their declarations (protocol/http/). Imported module by module rather
// than through protocol/http/routes.ts: the device's own routes and their validators have no place in a browser.
import { AUTH_ROUTES } from '../../protocol/http/auth.js';
import { DEVICE_ACTION_ROUTES } from '../../protocol/http/device-actions.js';
import { DEVICE_GROUP_ROUTES } from '../../protocol/http/device-groups.js';
import { DEVICE_ROUTES } from '../../protocol/http/devices.js';
import { EVENT_ROUTES } from '../../protocol/http/events.js';
import { FLEET_ROUTES } from '../../protocol/http/fleets.js';
import { LOG_ROUTES } from '../../protocol/http/logs.js';
import { PROVISIONING_KEY_ROUTES } from '../../protocol/http/provisioning-keys.js';
import { ROLLOUT_ROUTES } from '../../protocol/http/rollouts.js';
import { USER_ROUTES } from '../../protocol/http/users.js';

export const API = {
  ...AUTH_ROUTES,
  ...DEVICE_ACTION_ROUTES,
  ...DEVICE_GROUP_ROUTES,
  ...DEVICE_ROUTES,
  ...EVENT_ROUTES,
  ...FLEET_ROUTES,
  ...LOG_ROUTES,
  ...PROVISIONING_KEY_ROUTES,
  ...ROLLOUT_ROUTES,
  ...USER_ROUTES,
} as const;
