// The API routes the dashboard calls, from their declarations (protocol/http/). Imported module by module rather
// than through protocol/http/routes.ts: the device's own routes and their validators have no place in a browser.
import { AUTH_ROUTES } from '../../protocol/http/auth.js';
import { DEVICE_ACTION_ROUTES } from '../../protocol/http/device-actions.js';
import { DEVICE_GROUP_ROUTES } from '../../protocol/http/device-groups.js';
import { DEVICE_ROUTES } from '../../protocol/http/devices.js';
import { EVENT_ROUTES as HISTORY_ROUTES } from '../../protocol/http/events.js';
import { FLEET_ROUTES } from '../../protocol/http/fleets.js';
import { LOG_ROUTES } from '../../protocol/http/logs.js';
import { PROVISIONING_KEY_ROUTES } from '../../protocol/http/provisioning-keys.js';
import { USER_ROUTES } from '../../protocol/http/users.js';

export const API = {
  ...AUTH_ROUTES,
  ...DEVICE_ACTION_ROUTES,
  ...DEVICE_GROUP_ROUTES,
  ...DEVICE_ROUTES,
  // Only the metrics history: the events stream's routes are the live module's.
  deviceMetrics: HISTORY_ROUTES.deviceMetrics,
  ...FLEET_ROUTES,
  ...LOG_ROUTES,
  ...PROVISIONING_KEY_ROUTES,
  ...USER_ROUTES,
} as const;
