// The routes of remote actions (protocol/device-actions.ts): people ask for one and follow it, the device fetches
// what waits for it and posts what came of it. Both halves live here; the device's routes are authenticated by
// its token like its target's.
import {
  CreateDeviceActionRequestSchema,
  DeviceActionOrdersSchema,
  DeviceActionResultSchema,
  DeviceActionSchema,
  DiagnosticsBundleSchema,
} from '../device-actions.js';
import { ok, type RouteSpec } from './route.js';

export const DEVICE_ACTION_ROUTES = {
  createDeviceAction: {
    method: 'POST',
    path: '/v1/devices/:uuid/actions',
    summary:
      'Ask the device to restart, stop or start a service, reboot, or collect diagnostics; it hears of it through its push channel, or when it next connects within the lifetime',
    access: { action: 'device.manage' },
    body: CreateDeviceActionRequestSchema,
    bodyName: 'the action',
    example: { action: 'restart', service: 'meter-reader', ttlSeconds: 600 },
    responses: { 201: ok('The action, recorded', DeviceActionSchema) },
  },
  getDeviceAction: {
    method: 'GET',
    path: '/v1/devices/:uuid/actions/:action',
    summary: 'One action of the device and how it went',
    access: { action: 'read' },
    responses: { 200: ok('The action', DeviceActionSchema) },
  },
  getDeviceDiagnostics: {
    method: 'GET',
    path: '/v1/devices/:uuid/actions/:action/diagnostics',
    summary: 'The diagnostics bundle the device uploaded for a diagnose action',
    access: { action: 'device.manage' },
    responses: { 200: ok('The bundle', DiagnosticsBundleSchema) },
  },
} as const satisfies Record<string, RouteSpec>;

export const DEVICE_ACTION_API_ROUTES = {
  pendingDeviceActions: {
    method: 'GET',
    path: '/v1/device/:uuid/actions',
    summary: 'The actions waiting for the device; each is handed out once',
    access: 'device',
    responses: { 200: ok('The actions, oldest first', DeviceActionOrdersSchema) },
  },
  deviceActionResult: {
    method: 'POST',
    path: '/v1/device/:uuid/actions/:action',
    summary: 'What came of an action the device fetched (with its diagnostics bundle, at most 1 MiB of JSON)',
    access: 'device',
    body: DeviceActionResultSchema,
    bodyName: 'the action result',
    example: { status: 'succeeded', message: 'restarted container 0123456789ab' },
    responses: { 204: ok('Recorded') },
  },
} as const satisfies Record<string, RouteSpec>;
