// Route table entries (../route-spec.ts) of fleet settings, config vars, "update now", one release, and /metrics.
// ../route-table.ts spreads them into ROUTES, so the OpenAPI document and body validation know them.
import { Type } from '@sinclair/typebox';
import { FleetSchema, ReleaseSchema } from '../../../protocol/api.js';
import {
  ConfigVarsSchema,
  DeviceConfigViewSchema,
  DeviceSettingsChangeSchema,
  FleetSettingsChangeSchema,
  SetConfigVarRequestSchema,
  UpdateNowRequestSchema,
} from '../../../protocol/fleet-config.js';
import type { RouteSpec } from '../route-spec.js';

const ok = (description: string, schema: Parameters<typeof Type.Array>[0]) => ({ description, schema });

const WINDOW_EXAMPLE = {
  updateWindow: { cron: '0 2 * * *', durationMinutes: 120, timezone: 'Europe/Amsterdam' },
  bandwidthCapBytesPerSecond: 250_000,
};

export const CONFIG_ROUTES = {
  updateFleet: {
    method: 'PATCH',
    path: '/v1/fleets/:fleet',
    summary: "Change a fleet's poll interval, update window, bandwidth cap, lock override",
    access: { action: 'fleet.rollout' },
    body: FleetSettingsChangeSchema,
    bodyName: 'the fleet change',
    example: WINDOW_EXAMPLE,
    responses: { 200: ok('The fleet', FleetSchema) },
  },
  fleetUpdateNow: {
    method: 'POST',
    path: '/v1/fleets/:fleet/update-now',
    summary: "Ignore the fleet's update window for a while (default 60 minutes)",
    access: { action: 'fleet.rollout' },
    body: UpdateNowRequestSchema,
    bodyName: 'the update-now request',
    example: { minutes: 60 },
    responses: { 200: ok('The fleet', FleetSchema) },
  },
  fleetVars: {
    method: 'GET',
    path: '/v1/fleets/:fleet/config/vars',
    summary: "The fleet's config vars",
    access: { action: 'read' },
    responses: { 200: ok('Config vars by name', ConfigVarsSchema) },
  },
  setFleetVar: {
    method: 'PUT',
    path: '/v1/fleets/:fleet/config/vars/:name',
    summary: 'Set a config var for every device of the fleet',
    access: { action: 'fleet.rollout' },
    body: SetConfigVarRequestSchema,
    bodyName: 'the config var',
    example: { value: 'eu-west' },
    responses: { 200: ok("The fleet's config vars", ConfigVarsSchema) },
  },
  unsetFleetVar: {
    method: 'DELETE',
    path: '/v1/fleets/:fleet/config/vars/:name',
    summary: "Remove a fleet's config var",
    access: { action: 'fleet.rollout' },
    responses: { 200: ok("The fleet's config vars", ConfigVarsSchema) },
  },
  deviceConfig: {
    method: 'GET',
    path: '/v1/devices/:uuid/config',
    summary: "A device's own settings and vars, its fleet's vars, and what it gets",
    access: { action: 'read' },
    responses: { 200: ok("The device's config", DeviceConfigViewSchema) },
  },
  updateDeviceConfig: {
    method: 'PATCH',
    path: '/v1/devices/:uuid/config',
    summary: "Override the fleet's settings for one device, or inherit them again",
    access: { action: 'device.manage' },
    body: DeviceSettingsChangeSchema,
    bodyName: 'the device settings change',
    example: { overrideLocks: true, inherit: ['updateWindow'] },
    responses: { 200: ok("The device's config", DeviceConfigViewSchema) },
  },
  setDeviceVar: {
    method: 'PUT',
    path: '/v1/devices/:uuid/config/vars/:name',
    summary: "Set a config var for one device (it wins over the fleet's)",
    access: { action: 'device.manage' },
    body: SetConfigVarRequestSchema,
    bodyName: 'the config var',
    example: { value: 'roof' },
    responses: { 200: ok("The device's config", DeviceConfigViewSchema) },
  },
  unsetDeviceVar: {
    method: 'DELETE',
    path: '/v1/devices/:uuid/config/vars/:name',
    summary: "Remove a device's own config var",
    access: { action: 'device.manage' },
    responses: { 200: ok("The device's config", DeviceConfigViewSchema) },
  },
  deviceUpdateNow: {
    method: 'POST',
    path: '/v1/devices/:uuid/update-now',
    summary: "Ignore the device's update window for a while (default 60 minutes)",
    access: { action: 'device.manage' },
    body: UpdateNowRequestSchema,
    bodyName: 'the update-now request',
    example: {},
    responses: { 200: ok("The device's config", DeviceConfigViewSchema) },
  },
  getRelease: {
    method: 'GET',
    path: '/v1/fleets/:fleet/releases/:release',
    summary: 'One release by id or version, with its image verification',
    access: { action: 'read' },
    responses: { 200: ok('The release', ReleaseSchema) },
  },
  metrics: {
    method: 'GET',
    path: '/metrics',
    summary: 'Prometheus metrics: an admin API token, or SKIFF_METRICS_TOKEN as bearer token',
    access: { action: 'metrics.read' },
    responses: {
      200: {
        description: 'Prometheus text exposition format',
        schema: Type.String(),
        mediaType: 'text/plain; version=0.0.4',
      },
    },
  },
} as const satisfies Record<string, RouteSpec>;
