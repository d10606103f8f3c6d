// A fleet at a glance (`skiff fleet status`, the dashboard's overview): how many devices run which release, how
// their updates go, who is online, who is unhealthy, and each device's one line of what it is doing now.
import { Type, type Static } from '@sinclair/typebox';

/** How a device's services are, by the supervisor's report: the worst of its services wins. */
export const DEVICE_HEALTH = ['healthy', 'unhealthy', 'restart-loop', 'app-unhealthy', 'unknown'] as const;
export type DeviceHealth = (typeof DEVICE_HEALTH)[number];

const Counts = Type.Record(Type.String(), Type.Integer({ minimum: 0 }));

export const FleetStatusDeviceSchema = Type.Object(
  {
    uuid: Type.String(),
    shortId: Type.String(),
    name: Type.String(),
    online: Type.Boolean(),
    /** The version it should run; null: none. */
    targetRelease: Type.Union([Type.String(), Type.Null()]),
    /** The version every service runs; null: mixed or unknown. */
    runningRelease: Type.Union([Type.String(), Type.Null()]),
    /** What runs meanwhile, service by service, while the device is between releases: "meter-reader 3, tunnel 4". */
    running: Type.String(),
    updateStatus: Type.Union([Type.String(), Type.Null()]),
    health: Type.Union(DEVICE_HEALTH.map((h) => Type.Literal(h))),
    /** What it is doing or waiting for, for a person: "waiting for update window, opens 02:00 Europe/Stockholm". */
    activity: Type.String(),
  },
  { additionalProperties: false },
);
export type FleetStatusDevice = Static<typeof FleetStatusDeviceSchema>;

export const FleetStatusSchema = Type.Object(
  {
    fleet: Type.String(),
    at: Type.String({ format: 'date-time' }),
    /** Admitted devices; pending and rejected ones are not counted below. */
    devices: Type.Integer({ minimum: 0 }),
    online: Type.Integer({ minimum: 0 }),
    offline: Type.Integer({ minimum: 0 }),
    /** By running release version ('(mixed)' while services run several, '(none)' before any report). */
    byRelease: Counts,
    /** By update status as people read it (converged, downloading, applying, error, pending, waiting-window, unknown). */
    byUpdateStatus: Counts,
    byHealth: Counts,
    /** The devices, at most `limit` of them, unhealthy and updating ones first. */
    deviceList: Type.Array(FleetStatusDeviceSchema),
    /** Devices left out of deviceList. */
    more: Type.Integer({ minimum: 0 }),
  },
  { additionalProperties: false },
);
export type FleetStatus = Static<typeof FleetStatusSchema>;
