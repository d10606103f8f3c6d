// The CLI's one door to registry-api: each call names its route's declaration (protocol/http/), which gives the
// method, the path, the schema a request body is checked with before it leaves and the schema the answer is
// validated with before anything trusts it; failures say which URL and what the API said.
import type { SshCertificateAnswer, SshCertificateRequest, SshSessionEnded } from '../protocol/http/remote-access.js';
import type { CreateDeviceActionRequest, DeviceAction, DiagnosticsBundle } from '../protocol/device-actions.js';
import type { DeviceMetricsHistory } from '../protocol/device-metrics.js';
import type { FleetStatus } from '../protocol/fleet-status.js';
import type { CreateWebhookRequest, NewWebhook, Webhook, WebhookDelivery } from '../protocol/webhooks.js';
import type { Static, TSchema } from '@sinclair/typebox';
import type {
  ApiToken,
  AuditEntry,
  CreateUserRequest,
  FleetRole,
  NewApiToken,
  Role,
  User,
} from '../protocol/access.js';
import type { FleetReviewChange } from '../protocol/release-review.js';
import type { Invite } from '../protocol/http/auth.js';
import {
  ProblemSchema,
  type CreateFleetRequest,
  type CreateReleaseRequest,
  type DeviceSummary,
  type Fleet,
  type Info,
  type Problem,
  type Release,
  type SigningKeyStatus,
  type UpdateDeviceRequest,
} from '../protocol/api.js';
import type { PreauthorizeRequest } from '../protocol/device-auth.js';
import type { DeviceDetail } from '../protocol/device-detail.js';
import type {
  ConfigVars,
  DeviceConfigView,
  DeviceSettingsChange,
  FleetSettingsChange,
} from '../protocol/fleet-config.js';
import { fillPath, type PathParams, type RouteSpec } from '../protocol/http/route.js';
import { ROUTES } from '../protocol/http/routes.js';
import type { OsPin, OsRelease } from '../protocol/os-release.js';
import type { ReleaseKeys, SignedKeySet } from '../protocol/release-signature.js';
import type { ReleaseFileUploadSchema } from '../protocol/http/release-files.js';
import type {
  CreateProvisioningKeyRequest,
  NewProvisioningKey,
  ProvisioningKey,
} from '../protocol/provisioning-keys.js';
import type { CreateRolloutRequest, FleetStop, Rollout } from '../protocol/rollouts.js';
import { check, parse } from '../protocol/validate.js';
import type {
  BulkPinRequest,
  BulkRequest,
  BulkResult,
  BulkTagRequest,
  CreateGroupRequest,
  DeviceGroup,
} from '../protocol/device-groups.js';
import type { DecommissionedDeviceSchema } from '../protocol/http/lifecycle.js';
import { fetchFailureReason } from '../lib/errors.js';

type DecommissionedDevice = Static<typeof DecommissionedDeviceSchema>;

/** The API answered with an RFC 9457 problem. */
export class ApiProblemError extends Error {
  constructor(
    readonly request: string,
    readonly problem: Problem,
  ) {
    super(`${request}: ${problem.title}: ${problem.detail}`);
    this.name = 'ApiProblemError';
  }
}

/** No HTTP answer at all: refused, DNS, TLS, timeout. */
export class ApiUnreachableError extends Error {
  constructor(
    readonly url: string,
    readonly reason: string,
  ) {
    super(`could not reach the Skiff API at ${url}: ${reason}`);
    this.name = 'ApiUnreachableError';
  }
}

/** An HTTP answer the contract does not allow: an error without a problem body, or a body of the wrong shape. */
export class ApiAnswerError extends Error {
  constructor(
    readonly request: string,
    detail: string,
    /** The HTTP status, when the answer was an error without a problem body (a proxy's 502). */
    readonly status?: number,
  ) {
    super(`${request}: ${detail}`);
    this.name = 'ApiAnswerError';
  }
}

export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

export interface ApiClientOptions {
  baseUrl: string;
  token: string | null;
  timeoutMs?: number;
  fetch?: FetchLike;
}

const DEFAULT_TIMEOUT_MS = 30_000;
/** A bundle of gigabytes over a slow uplink: the upload gets hours, not the usual seconds. */
const UPLOAD_TIMEOUT_MS = 6 * 3600 * 1000;

/** A body that is no JSON: a file, streamed from disk. */
interface RawBody {
  body: Blob;
  type: string;
}

/** What a call sends besides its path parameters. */
interface Sending {
  /** Appended to the path as ?query when it holds anything. */
  query?: URLSearchParams;
  /** The JSON body. */
  body?: unknown;
  raw?: RawBody;
}

/** The schema of a route's success answer (200, else 201), the one its answer is validated with. */
type AnswerSchema<R extends RouteSpec> = R['responses'] extends { 200: { schema: infer S extends TSchema } }
  ? S
  : R['responses'] extends { 201: { schema: infer S extends TSchema } }
    ? S
    : never;

type WithBody = RouteSpec & { body: TSchema };

export interface AuditFilter {
  fleet?: string;
  device?: string;
  limit?: number;
  /** Entries older than this entry id. */
  before?: number;
}

function answerSchemaOf<R extends RouteSpec>(route: R): AnswerSchema<R> {
  const schema = route.responses[200]?.schema ?? route.responses[201]?.schema;
  if (schema === undefined) throw new Error(`${route.method} ${route.path} declares no JSON answer`);
  return schema as AnswerSchema<R>;
}

/** `request` checked against the route's body schema before it leaves: the error names the field, offline. */
function checked<R extends WithBody>(route: R, request: Static<R['body']>): Static<R['body']> {
  return parse(route.body, request, route.bodyName ?? `the body of ${route.method} ${route.path}`);
}

/** `?service=NAME` for the config var routes, or nothing for the vars of every service. */
function serviceQuery(service: string | undefined): URLSearchParams | undefined {
  return service === undefined ? undefined : new URLSearchParams({ service });
}
export class ApiClient {
  private readonly baseUrl: string;
  private readonly token: string | null;
  private readonly timeoutMs: number;
  private readonly fetchFn: FetchLike;

  constructor(options: ApiClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.token = options.token;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.fetchFn = options.fetch ?? ((input, init) => fetch(input, init));
  }

  async info(): Promise<Info> {
    return this.call(ROUTES.info, {});
  }

  async listFleets(): Promise<Fleet[]> {
    return this.call(ROUTES.listFleets, {});
  }

  async getFleet(name: string): Promise<Fleet> {
    return this.call(ROUTES.getFleet, { fleet: name });
  }

  async createFleet(request: CreateFleetRequest): Promise<Fleet> {
    return this.call(ROUTES.createFleet, {}, { body: checked(ROUTES.createFleet, request) });
  }

  async listReleases(fleet: string): Promise<Release[]> {
    return this.call(ROUTES.listReleases, { fleet });
  }

  async createRelease(fleet: string, request: CreateReleaseRequest): Promise<Release> {
    return this.call(ROUTES.createRelease, { fleet }, { body: checked(ROUTES.createRelease, request) });
  }

  /** `release` is a release id or version. */
  async pin(fleet: string, release: string): Promise<Fleet> {
    return this.call(ROUTES.pinFleet, { fleet }, { body: checked(ROUTES.pinFleet, { release }) });
  }

  async trackLatest(fleet: string): Promise<Fleet> {
    return this.call(ROUTES.trackLatest, { fleet }, { body: {} });
  }

  /**
   * `status`: only devices in this admission status (pending, preauthorized, accepted, rejected); `filter`: only
   * those a device selector picks (protocol/device-selector.ts).
   */
  async listDevices(fleet?: string, status?: string, filter?: string): Promise<DeviceSummary[]> {
    const query = new URLSearchParams({
      ...(fleet === undefined ? {} : { fleet }),
      ...(status === undefined ? {} : { status }),
      ...(filter === undefined ? {} : { filter }),
    });
    return this.call(ROUTES.listDevices, {}, { query });
  }

  async listGroups(fleet: string): Promise<DeviceGroup[]> {
    return this.call(ROUTES.listGroups, { fleet });
  }

  async createGroup(fleet: string, request: CreateGroupRequest): Promise<DeviceGroup> {
    return this.call(ROUTES.createGroup, { fleet }, { body: checked(ROUTES.createGroup, request) });
  }

  async getGroup(fleet: string, group: string): Promise<DeviceGroup> {
    return this.call(ROUTES.getGroup, { fleet, group });
  }

  async deleteGroup(fleet: string, group: string): Promise<DeviceGroup> {
    return this.call(ROUTES.deleteGroup, { fleet, group });
  }

  async bulkPin(fleet: string, request: BulkPinRequest): Promise<BulkResult> {
    return this.call(ROUTES.bulkPin, { fleet }, { body: checked(ROUTES.bulkPin, request) });
  }

  async bulkTrackFleet(fleet: string, request: BulkRequest): Promise<BulkResult> {
    return this.call(ROUTES.bulkTrackFleet, { fleet }, { body: checked(ROUTES.bulkTrackFleet, request) });
  }

  async bulkTag(fleet: string, request: BulkTagRequest): Promise<BulkResult> {
    return this.call(ROUTES.bulkTag, { fleet }, { body: checked(ROUTES.bulkTag, request) });
  }

  async bulkRevoke(fleet: string, request: BulkRequest): Promise<BulkResult> {
    return this.call(ROUTES.bulkRevoke, { fleet }, { body: checked(ROUTES.bulkRevoke, request) });
  }

  async archiveFleet(fleet: string): Promise<Fleet> {
    return this.call(ROUTES.archiveFleet, { fleet }, { body: {} });
  }

  async unarchiveFleet(fleet: string): Promise<Fleet> {
    return this.call(ROUTES.unarchiveFleet, { fleet }, { body: {} });
  }

  async deleteFleet(fleet: string): Promise<Fleet> {
    return this.call(ROUTES.deleteFleet, { fleet });
  }

  /** `release` is a release id or version. */
  async deleteRelease(fleet: string, release: string): Promise<Release> {
    return this.call(ROUTES.deleteRelease, { fleet, release });
  }

  async deleteUser(name: string): Promise<User> {
    return this.call(ROUTES.deleteUser, { name });
  }

  async decommissionDevice(uuid: string): Promise<DecommissionedDevice> {
    return this.call(ROUTES.decommissionDevice, { uuid });
  }

  async getDevice(uuid: string): Promise<DeviceDetail> {
    return this.call(ROUTES.getDevice, { uuid });
  }

  /** `release` is a release id or version of the device's fleet. */
  async pinDevice(uuid: string, release: string): Promise<DeviceDetail> {
    return this.call(ROUTES.pinDevice, { uuid }, { body: checked(ROUTES.pinDevice, { release }) });
  }

  async trackFleet(uuid: string): Promise<DeviceDetail> {
    return this.call(ROUTES.deviceTrackFleet, { uuid }, { body: {} });
  }

  async revokeDevice(uuid: string): Promise<DeviceDetail> {
    return this.call(ROUTES.revokeDevice, { uuid }, { body: {} });
  }

  async acceptDevice(uuid: string): Promise<DeviceDetail> {
    return this.call(ROUTES.acceptDevice, { uuid }, { body: {} });
  }

  async rejectDevice(uuid: string): Promise<DeviceDetail> {
    return this.call(ROUTES.rejectDevice, { uuid }, { body: {} });
  }

  /** Name, note (null clears it) or tags (replacing them). */
  async updateDevice(uuid: string, change: UpdateDeviceRequest): Promise<DeviceDetail> {
    return this.call(ROUTES.updateDevice, { uuid }, { body: checked(ROUTES.updateDevice, change) });
  }

  /** Admits a device's public key before it calls: it is accepted on first contact. */
  async preauthorizeDevice(request: PreauthorizeRequest): Promise<DeviceDetail> {
    return this.call(ROUTES.preauthorizeDevice, {}, { body: checked(ROUTES.preauthorizeDevice, request) });
  }

  /** Asks the device for a remote action (protocol/device-actions.ts). */
  async createDeviceAction(uuid: string, request: CreateDeviceActionRequest): Promise<DeviceAction> {
    return this.call(ROUTES.createDeviceAction, { uuid }, { body: checked(ROUTES.createDeviceAction, request) });
  }

  async getDeviceAction(uuid: string, id: string): Promise<DeviceAction> {
    return this.call(ROUTES.getDeviceAction, { uuid, action: id });
  }

  async deviceDiagnostics(uuid: string, id: string): Promise<DiagnosticsBundle> {
    return this.call(ROUTES.getDeviceDiagnostics, { uuid, action: id });
  }

  async me(): Promise<User> {
    return this.call(ROUTES.me, {});
  }

  async listUsers(): Promise<User[]> {
    return this.call(ROUTES.listUsers, {});
  }

  async createUser(request: CreateUserRequest): Promise<User> {
    return this.call(ROUTES.createUser, {}, { body: checked(ROUTES.createUser, request) });
  }

  async listFleetRoles(user: string): Promise<FleetRole[]> {
    return this.call(ROUTES.listFleetRoles, { name: user });
  }

  async grantFleetRole(user: string, fleet: string, role: Role): Promise<FleetRole> {
    return this.call(ROUTES.grantFleetRole, { name: user, fleet }, { body: checked(ROUTES.grantFleetRole, { role }) });
  }

  async revokeFleetRole(user: string, fleet: string): Promise<FleetRole> {
    return this.call(ROUTES.revokeFleetRole, { name: user, fleet });
  }

  async approveRelease(fleet: string, release: string, note?: string): Promise<Release> {
    const body = checked(ROUTES.approveRelease, note === undefined ? {} : { note });
    return this.call(ROUTES.approveRelease, { fleet, release }, { body });
  }

  async rejectRelease(fleet: string, release: string, note?: string): Promise<Release> {
    const body = checked(ROUTES.rejectRelease, note === undefined ? {} : { note });
    return this.call(ROUTES.rejectRelease, { fleet, release }, { body });
  }

  async setFleetReview(fleet: string, change: FleetReviewChange): Promise<Fleet> {
    return this.call(ROUTES.setFleetReview, { fleet }, { body: checked(ROUTES.setFleetReview, change) });
  }

  /** Sets the user's dashboard password; their browser sessions end. */
  async setPassword(user: string, password: string): Promise<User> {
    return this.call(ROUTES.setPassword, { name: user }, { body: checked(ROUTES.setPassword, { password }) });
  }

  /** A one-time code the user sets their first password with; shown in this answer only. */
  async inviteUser(user: string): Promise<Invite> {
    return this.call(ROUTES.inviteUser, { name: user }, { body: {} });
  }

  /** Where the dashboard is: the API serves it at its root. */
  dashboardUrl(): string {
    return `${this.baseUrl}/`;
  }

  async listTokens(user: string): Promise<ApiToken[]> {
    return this.call(ROUTES.listTokens, { name: user });
  }

  /** The answer holds the token itself: the only time the API shows it. */
  async createToken(user: string, label?: string): Promise<NewApiToken> {
    const body = checked(ROUTES.createToken, label === undefined ? {} : { label });
    return this.call(ROUTES.createToken, { name: user }, { body });
  }

  async signingKeyStatus(): Promise<SigningKeyStatus> {
    return this.call(ROUTES.signingKey, {});
  }

  async rotateSigningKey(): Promise<SigningKeyStatus> {
    return this.call(ROUTES.rotateSigningKey, {}, { body: {} });
  }

  async completeSigningKeyRotation(): Promise<SigningKeyStatus> {
    return this.call(ROUTES.completeSigningKeyRotation, {}, { body: {} });
  }

  async revokeToken(user: string, tokenId: string): Promise<ApiToken> {
    return this.call(ROUTES.revokeToken, { name: user, id: tokenId });
  }

  async createRollout(fleet: string, request: CreateRolloutRequest): Promise<Rollout> {
    return this.call(ROUTES.createRollout, { fleet }, { body: checked(ROUTES.createRollout, request) });
  }

  async listRollouts(fleet: string): Promise<Rollout[]> {
    return this.call(ROUTES.listRollouts, { fleet });
  }

  /** By id within its fleet; without a fleet, whichever fleet (one the caller may read) it is of. */
  async getRollout(id: string, fleet?: string): Promise<Rollout> {
    return fleet === undefined
      ? this.call(ROUTES.findRollout, { rollout: id })
      : this.call(ROUTES.getRollout, { fleet, rollout: id });
  }

  async rolloutAction(
    fleet: string,
    id: string,
    action: 'pause' | 'resume' | 'abort',
    note?: string,
  ): Promise<Rollout> {
    const route = { pause: ROUTES.pauseRollout, resume: ROUTES.resumeRollout, abort: ROUTES.abortRollout }[action];
    const body = checked(route, note === undefined ? {} : { note });
    return this.call(route, { fleet, rollout: id }, { body });
  }

  async stopFleet(fleet: string, note?: string): Promise<FleetStop> {
    const body = checked(ROUTES.stopFleet, note === undefined ? {} : { note });
    return this.call(ROUTES.stopFleet, { fleet }, { body });
  }

  async listProvisioningKeys(fleet: string): Promise<ProvisioningKey[]> {
    return this.call(ROUTES.listProvisioningKeys, { fleet });
  }

  /** The answer holds the key's secret: the only time the API shows it. */
  async createProvisioningKey(fleet: string, request: CreateProvisioningKeyRequest): Promise<NewProvisioningKey> {
    const body = checked(ROUTES.createProvisioningKey, request);
    return this.call(ROUTES.createProvisioningKey, { fleet }, { body });
  }

  async revokeProvisioningKey(fleet: string, id: string): Promise<ProvisioningKey> {
    return this.call(ROUTES.revokeProvisioningKey, { fleet, id });
  }

  async getReleaseKeys(fleet: string): Promise<ReleaseKeys> {
    return this.call(ROUTES.getReleaseKeys, { fleet });
  }

  async putReleaseKeys(fleet: string, keySet: SignedKeySet): Promise<ReleaseKeys> {
    return this.call(ROUTES.putReleaseKeys, { fleet }, { body: checked(ROUTES.putReleaseKeys, keySet) });
  }

  async listAudit(filter: AuditFilter = {}): Promise<AuditEntry[]> {
    const query = new URLSearchParams();
    for (const [key, value] of Object.entries(filter)) if (value !== undefined) query.set(key, String(value));
    return this.call(ROUTES.audit, {}, { query });
  }

  /** `release` is a release id or version; the answer has its image verification. */
  async getRelease(fleet: string, release: string): Promise<Release> {
    return this.call(ROUTES.getRelease, { fleet, release });
  }

  async updateFleet(fleet: string, change: FleetSettingsChange): Promise<Fleet> {
    return this.call(ROUTES.updateFleet, { fleet }, { body: checked(ROUTES.updateFleet, change) });
  }

  /** Devices of the fleet ignore their update window for `minutes` (the API's default when absent). */
  async fleetUpdateNow(fleet: string, minutes?: number): Promise<Fleet> {
    return this.call(ROUTES.fleetUpdateNow, { fleet }, { body: minutes === undefined ? {} : { minutes } });
  }

  /** The fleet's vars of every service, or (`service`) those scoped to that service. */
  async fleetVars(fleet: string, service?: string): Promise<ConfigVars> {
    return this.call(ROUTES.fleetVars, { fleet }, { query: serviceQuery(service) });
  }

  async setFleetVar(fleet: string, name: string, value: string, service?: string): Promise<ConfigVars> {
    return this.call(ROUTES.setFleetVar, { fleet, name }, { body: { value }, query: serviceQuery(service) });
  }

  async unsetFleetVar(fleet: string, name: string, service?: string): Promise<ConfigVars> {
    return this.call(ROUTES.unsetFleetVar, { fleet, name }, { query: serviceQuery(service) });
  }

  async deviceConfig(uuid: string): Promise<DeviceConfigView> {
    return this.call(ROUTES.deviceConfig, { uuid });
  }

  async updateDeviceConfig(uuid: string, change: DeviceSettingsChange): Promise<DeviceConfigView> {
    return this.call(ROUTES.updateDeviceConfig, { uuid }, { body: checked(ROUTES.updateDeviceConfig, change) });
  }

  async deviceUpdateNow(uuid: string, minutes?: number): Promise<DeviceConfigView> {
    return this.call(ROUTES.deviceUpdateNow, { uuid }, { body: minutes === undefined ? {} : { minutes } });
  }

  async setDeviceVar(uuid: string, name: string, value: string, service?: string): Promise<DeviceConfigView> {
    return this.call(ROUTES.setDeviceVar, { uuid, name }, { body: { value }, query: serviceQuery(service) });
  }

  async unsetDeviceVar(uuid: string, name: string, service?: string): Promise<DeviceConfigView> {
    return this.call(ROUTES.unsetDeviceVar, { uuid, name }, { query: serviceQuery(service) });
  }

  /** A signed RAUC bundle (its file, streamed) as host OS release `version` of `deviceType`. */
  async uploadOsRelease(bundle: Blob, deviceType: string, version: string): Promise<OsRelease> {
    const route = ROUTES.uploadOsRelease;
    const query = new URLSearchParams(parse(route.query, { deviceType, version }, 'the host OS release'));
    return this.call(route, {}, { query, raw: { body: bundle, type: route.rawBody.mediaType } });
  }

  /** Uploads one file a release carries, named by its digest (the API checks it). */
  async uploadReleaseFile(
    fleet: string,
    digest: string,
    content: Buffer,
  ): Promise<Static<typeof ReleaseFileUploadSchema>> {
    const route = ROUTES.putReleaseFile;
    return this.call(
      route,
      { fleet, digest },
      { raw: { body: new Blob([new Uint8Array(content)]), type: route.rawBody.mediaType } },
    );
  }

  async listOsReleases(deviceType?: string): Promise<OsRelease[]> {
    const query = new URLSearchParams(deviceType === undefined ? {} : { deviceType });
    return this.call(ROUTES.listOsReleases, {}, { query });
  }

  async deleteOsRelease(id: string): Promise<OsRelease> {
    return this.call(ROUTES.deleteOsRelease, { id });
  }

  /** `release`: a host OS release id or version of the fleet's device type. */
  async pinFleetOs(fleet: string, release: string): Promise<OsPin> {
    return this.call(ROUTES.pinFleetOs, { fleet }, { body: checked(ROUTES.pinFleetOs, { release }) });
  }

  async unpinFleetOs(fleet: string): Promise<OsPin> {
    return this.call(ROUTES.unpinFleetOs, { fleet });
  }

  async fleetOs(fleet: string): Promise<OsPin> {
    return this.call(ROUTES.fleetOs, { fleet });
  }

  /** `release`: a host OS release id or version of the device's type. */
  async pinDeviceOs(uuid: string, release: string): Promise<OsPin> {
    return this.call(ROUTES.pinDeviceOs, { uuid }, { body: checked(ROUTES.pinDeviceOs, { release }) });
  }

  async unpinDeviceOs(uuid: string): Promise<OsPin> {
    return this.call(ROUTES.unpinDeviceOs, { uuid });
  }

  async deviceOs(uuid: string): Promise<OsPin> {
    return this.call(ROUTES.deviceOs, { uuid });
  }

  /** A short-lived SSH certificate for `request.publicKey`, valid on the device only; opens an audited session. */
  async issueSshCertificate(uuid: string, request: SshCertificateRequest): Promise<SshCertificateAnswer> {
    return this.call(ROUTES.issueSshCertificate, { uuid }, { body: checked(ROUTES.issueSshCertificate, request) });
  }

  async endSshSession(uuid: string, session: string, exitCode: number | null): Promise<SshSessionEnded> {
    return this.call(ROUTES.endSshSession, { uuid, session }, { body: checked(ROUTES.endSshSession, { exitCode }) });
  }

  /** The fleet at a glance: counts and each device's activity; `limit` devices listed. */
  async fleetStatus(fleet: string, limit?: number): Promise<FleetStatus> {
    const query = new URLSearchParams(limit === undefined ? {} : { limit: String(limit) });
    return this.call(ROUTES.fleetStatus, { fleet }, { query });
  }

  /** The device's metrics between `from` and `to` (ISO-8601; absent: the API's defaults, the last hour). */
  async deviceMetrics(uuid: string, range: { from?: string; to?: string } = {}): Promise<DeviceMetricsHistory> {
    const query = new URLSearchParams({
      ...(range.from === undefined ? {} : { from: range.from }),
      ...(range.to === undefined ? {} : { to: range.to }),
    });
    return this.call(ROUTES.deviceMetrics, { uuid }, { query });
  }

  async createWebhook(request: CreateWebhookRequest): Promise<NewWebhook> {
    return this.call(ROUTES.createWebhook, {}, { body: checked(ROUTES.createWebhook, request) });
  }

  async listWebhooks(): Promise<Webhook[]> {
    return this.call(ROUTES.listWebhooks, {});
  }

  async deleteWebhook(id: string): Promise<Webhook> {
    return this.call(ROUTES.deleteWebhook, { id });
  }

  async webhookDeliveries(id: string): Promise<WebhookDelivery[]> {
    return this.call(ROUTES.webhookDeliveries, { id });
  }

  /** Calls `route` with its path parameters; the answer validated with the schema the route declares for it. */
  private async call<R extends RouteSpec>(
    route: R,
    params: PathParams<R['path']>,
    sending: Sending = {},
  ): Promise<Static<AnswerSchema<R>>> {
    const timeoutMs = sending.raw === undefined ? this.timeoutMs : Math.max(this.timeoutMs, UPLOAD_TIMEOUT_MS);
    const signal = AbortSignal.timeout(timeoutMs);
    const { request, url, response } = await this.send(route, params, sending, signal, 'application/json');
    let text: string;
    try {
      text = await response.text();
    } catch (err) {
      throw new ApiUnreachableError(url, fetchFailureReason(err));
    }
    if (!response.ok) throw failureOf(request, response, text);
    const json = parseJson(text);
    if (!json.ok) throw new ApiAnswerError(request, `the answer is not JSON (${json.error})`);
    return parse(answerSchemaOf(route), json.value, `the answer to ${request}`);
  }

  /**
   * Opens `route` and hands its answer back unread once the status is a success: for answers read as a stream or
   * under a deadline of their own (fleet logs). A failure is one of this client's errors, as for every call.
   */
  async open<R extends RouteSpec>(
    route: R,
    params: PathParams<R['path']>,
    options: { query?: URLSearchParams; signal: AbortSignal },
  ): Promise<{ request: string; response: Response }> {
    const accept = route.responses[200]?.mediaType ?? 'application/json';
    const { request, response } = await this.send(route, params, { query: options.query }, options.signal, accept);
    if (!response.ok) throw failureOf(request, response, await response.text().catch(() => ''));
    return { request, response };
  }

  /** The one place a request leaves: the route's method and path, the token, the media type asked for. */
  private async send<R extends RouteSpec>(
    route: R,
    params: PathParams<R['path']>,
    sending: Sending,
    signal: AbortSignal,
    accept: string,
  ): Promise<{ request: string; url: string; response: Response }> {
    const { method } = route;
    const { body, raw } = sending;
    const query = sending.query?.toString() ?? '';
    const url = `${this.baseUrl}${fillPath(route.path, params)}${query === '' ? '' : `?${query}`}`;
    const headers: Record<string, string> = { accept: `${accept}, application/problem+json` };
    if (this.token !== null) headers.authorization = `Bearer ${this.token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (raw !== undefined) headers['content-type'] = raw.type;
    try {
      const response = await this.fetchFn(url, {
        method,
        headers,
        body: raw !== undefined ? raw.body : body === undefined ? undefined : JSON.stringify(body),
        signal,
      });
      return { request: `${method} ${url}`, url, response };
    } catch (err) {
      throw new ApiUnreachableError(url, fetchFailureReason(err));
    }
  }
}

/** An error answer as one of this client's errors: the API's problem, else the status and the body's start. */
function failureOf(request: string, response: Response, text: string): Error {
  const json = parseJson(text);
  if (json.ok && check(ProblemSchema, json.value).length === 0) {
    return new ApiProblemError(request, json.value as Problem);
  }
  const snippet = text.trim().slice(0, 200) || '(empty body)';
  return new ApiAnswerError(request, `HTTP ${response.status} ${response.statusText}: ${snippet}`, response.status);
}

function parseJson(text: string): { ok: true; value: unknown } | { ok: false; error: string } {
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch (err) {
    return { ok: false, error: err instanceof Error ? err.message : String(err) };
  }
}
