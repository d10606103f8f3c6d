// Path builders by the names scripts and tests have long used (paths.target(uuid), osPaths.bundle(uuid, id)...),
// each made from its route's declaration with pathOf, so no path is written twice. New code can call pathOf with
// the declaration itself, which also gives it the method.
import { pathOf } from './route.js';
import { ROUTES } from './routes.js';

export const paths = {
  info: pathOf(ROUTES.info),
  deviceAuth: pathOf(ROUTES.deviceAuth),
  rotateKey: (uuid: string) => pathOf(ROUTES.rotateDeviceKey, { uuid }),
  target: (uuid: string) => pathOf(ROUTES.deviceTarget, { uuid }),
  state: (uuid: string) => pathOf(ROUTES.deviceState, { uuid }),
  fleets: pathOf(ROUTES.listFleets),
  fleet: (fleet: string) => pathOf(ROUTES.getFleet, { fleet }),
  releases: (fleet: string) => pathOf(ROUTES.listReleases, { fleet }),
  pin: (fleet: string) => pathOf(ROUTES.pinFleet, { fleet }),
  release: (fleet: string, release: string) => pathOf(ROUTES.getRelease, { fleet, release }),
  metrics: pathOf(ROUTES.metrics),
  trackLatest: (fleet: string) => pathOf(ROUTES.trackLatest, { fleet }),
  devices: pathOf(ROUTES.listDevices),
  device: (uuid: string) => pathOf(ROUTES.getDevice, { uuid }),
  devicePin: (uuid: string) => pathOf(ROUTES.pinDevice, { uuid }),
  deviceTrackFleet: (uuid: string) => pathOf(ROUTES.deviceTrackFleet, { uuid }),
  deviceRevoke: (uuid: string) => pathOf(ROUTES.revokeDevice, { uuid }),
  deviceAccept: (uuid: string) => pathOf(ROUTES.acceptDevice, { uuid }),
  deviceReject: (uuid: string) => pathOf(ROUTES.rejectDevice, { uuid }),
  me: pathOf(ROUTES.me),
  users: pathOf(ROUTES.listUsers),
  userTokens: (user: string) => pathOf(ROUTES.listTokens, { name: user }),
  userToken: (user: string, tokenId: string) => pathOf(ROUTES.revokeToken, { name: user, id: tokenId }),
  audit: pathOf(ROUTES.audit),
} as const;

export const osPaths = {
  releases: pathOf(ROUTES.listOsReleases),
  release: (id: string) => pathOf(ROUTES.getOsRelease, { id }),
  fleetPin: (fleet: string) => pathOf(ROUTES.fleetOs, { fleet }),
  devicePin: (uuid: string) => pathOf(ROUTES.deviceOs, { uuid }),
  bundle: (uuid: string, id: string) => pathOf(ROUTES.osBundle, { uuid, id }),
} as const;

export const deviceLogPaths = {
  logs: (uuid: string) => pathOf(ROUTES.deviceLogs, { uuid }),
  follow: (uuid: string) => pathOf(ROUTES.followDeviceLogs, { uuid }),
  batches: (uuid: string) => pathOf(ROUTES.postDeviceLogs, { uuid }),
} as const;

export const eventPaths = {
  events: (uuid: string) => pathOf(ROUTES.deviceEvents, { uuid }),
} as const;

export const configPaths = {
  fleetVars: (fleet: string) => pathOf(ROUTES.fleetVars, { fleet }),
  fleetVar: (fleet: string, name: string) => pathOf(ROUTES.setFleetVar, { fleet, name }),
  fleetUpdateNow: (fleet: string) => pathOf(ROUTES.fleetUpdateNow, { fleet }),
  device: (uuid: string) => pathOf(ROUTES.deviceConfig, { uuid }),
  deviceVar: (uuid: string, name: string) => pathOf(ROUTES.setDeviceVar, { uuid, name }),
  deviceUpdateNow: (uuid: string) => pathOf(ROUTES.deviceUpdateNow, { uuid }),
} as const;

export const provisioningKeyPaths = {
  keys: (fleet: string) => pathOf(ROUTES.listProvisioningKeys, { fleet }),
  key: (fleet: string, id: string) => pathOf(ROUTES.revokeProvisioningKey, { fleet, id }),
} as const;
