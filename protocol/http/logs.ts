// The people's routes of fleet logs (protocol/device-logs.ts): a device's last lines, or those and every new one as
// server-sent events. The batches devices post are theirs (device-api.ts).
import { Type } from '@sinclair/typebox';
import { ProblemSchema } from '../api.js';
import { DeviceLogsQuerySchema, DeviceLogsSchema } from '../device-logs.js';
import type { RouteSpec } from './route.js';

const PROBLEM = 'application/problem+json';
const UNREACHABLE = {
  409: {
    description: 'The device has no push channel open to the API: it is offline',
    schema: ProblemSchema,
    mediaType: PROBLEM,
  },
  504: { description: 'The device did not send its lines in time', schema: ProblemSchema, mediaType: PROBLEM },
};

const QUERY_NOTE =
  '`service` (repeatable; default every service), `tail` lines per service (default 100, at most 1000), ' +
  '`wait` seconds for the device to answer (default 15, at most 120). 409: the device has no push channel open ' +
  '(offline); 504: it did not answer in time.';

export const LOG_ROUTES = {
  deviceLogs: {
    method: 'GET',
    path: '/v1/devices/:uuid/logs',
    summary: `The last lines of each service of the device, fetched from it now through its push channel. ${QUERY_NOTE}`,
    access: { action: 'device.logs' },
    query: DeviceLogsQuerySchema,
    responses: {
      200: { description: 'The lines, oldest first', schema: DeviceLogsSchema },
      ...UNREACHABLE,
    },
  },
  followDeviceLogs: {
    method: 'GET',
    path: '/v1/devices/:uuid/logs/follow',
    summary:
      'The last lines of each service, then every new line, as server-sent events until the caller hangs up: ' +
      '`lines` ({lines, services?}), `gap` ({services, dropped?}: lines lost before they were read), heartbeat comments. ' +
      `The device ships lines only while someone follows. ${QUERY_NOTE}`,
    access: { action: 'device.logs' },
    query: DeviceLogsQuerySchema,
    responses: {
      200: { description: 'An endless text/event-stream', schema: Type.String(), mediaType: 'text/event-stream' },
      ...UNREACHABLE,
    },
  },
} as const satisfies Record<string, RouteSpec>;
