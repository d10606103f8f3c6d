// The CLI's one door to registry-api: typed calls on protocol/api.ts paths, requests checked before they leave,
// answers validated before anything trusts them, and failures that say which URL and what the API said.
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import {
  CreateFleetRequestSchema,
  CreateReleaseRequestSchema,
  DeviceSummarySchema,
  FleetSchema,
  InfoSchema,
  PinRequestSchema,
  ProblemSchema,
  ReleaseSchema,
  UpdateDeviceRequestSchema,
  paths,
  type UpdateDeviceRequest,
  type CreateFleetRequest,
  type CreateReleaseRequest,
  type DeviceSummary,
  type Fleet,
  type Info,
  type Problem,
  type Release,
} from '../protocol/api.js';
import {
  ApiTokenSchema,
  AuditEntrySchema,
  CreateTokenRequestSchema,
  CreateUserRequestSchema,
  NewApiTokenSchema,
  UserSchema,
  type ApiToken,
  type AuditEntry,
  type CreateUserRequest,
  type NewApiToken,
  type User,
} from '../protocol/access.js';
import {
  CreateProvisioningKeyRequestSchema,
  NewProvisioningKeySchema,
  ProvisioningKeySchema,
  provisioningKeyPaths,
  type CreateProvisioningKeyRequest,
  type NewProvisioningKey,
  type ProvisioningKey,
} from '../protocol/provisioning-keys.js';
import { DeviceDetailSchema, type DeviceDetail } from '../protocol/device-detail.js';
import { PreauthorizeRequestSchema, type PreauthorizeRequest } from '../protocol/device-auth.js';
import {
  ConfigVarsSchema,
  DeviceConfigViewSchema,
  DeviceSettingsChangeSchema,
  FleetSettingsChangeSchema,
  configPaths,
  type ConfigVars,
  type DeviceConfigView,
  type DeviceSettingsChange,
  type FleetSettingsChange,
} from '../protocol/fleet-config.js';
import { check, parse } from '../protocol/validate.js';
import {
  OsPinRequestSchema,
  OsPinSchema,
  OsReleaseSchema,
  OsUploadQuerySchema,
  osPaths,
  type OsPin,
  type OsRelease,
} from '../protocol/os-release.js';
import { fetchFailureReason } from '../lib/errors.js';

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
// Built once: validators are compiled per schema object.
const FleetListSchema = Type.Array(FleetSchema);
const ReleaseListSchema = Type.Array(ReleaseSchema);
const DeviceListSchema = Type.Array(DeviceSummarySchema);
const UserListSchema = Type.Array(UserSchema);
const TokenListSchema = Type.Array(ApiTokenSchema);
const ProvisioningKeyListSchema = Type.Array(ProvisioningKeySchema);
const AuditListSchema = Type.Array(AuditEntrySchema);
const OsReleaseListSchema = Type.Array(OsReleaseSchema);
/** A bundle of gigabytes over a slow uplink: the upload gets hours, not the usual seconds. */
const UPLOAD_TIMEOUT_MS = 6 * 3600 * 1000;

/** A body that is no JSON: a file, streamed from disk. */
interface RawBody {
  body: Blob;
  type: string;
}

export interface AuditFilter {
  fleet?: string;
  device?: string;
  limit?: number;
  /** Entries older than this entry id. */
  before?: number;
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
    return this.call('GET', paths.info, InfoSchema);
  }

  async listFleets(): Promise<Fleet[]> {
    return this.call('GET', paths.fleets, FleetListSchema);
  }

  async getFleet(name: string): Promise<Fleet> {
    return this.call('GET', paths.fleet(name), FleetSchema);
  }

  async createFleet(request: CreateFleetRequest): Promise<Fleet> {
    const body = parse(CreateFleetRequestSchema, request, 'the new fleet');
    return this.call('POST', paths.fleets, FleetSchema, body);
  }

  async listReleases(fleet: string): Promise<Release[]> {
    return this.call('GET', paths.releases(fleet), ReleaseListSchema);
  }

  async createRelease(fleet: string, request: CreateReleaseRequest): Promise<Release> {
    const body = parse(CreateReleaseRequestSchema, request, 'the new release');
    return this.call('POST', paths.releases(fleet), ReleaseSchema, body);
  }

  /** `release` is a release id or version. */
  async pin(fleet: string, release: string): Promise<Fleet> {
    const body = parse(PinRequestSchema, { release }, 'the pin request');
    return this.call('POST', paths.pin(fleet), FleetSchema, body);
  }

  async trackLatest(fleet: string): Promise<Fleet> {
    return this.call('POST', paths.trackLatest(fleet), FleetSchema, {});
  }

  /** `status`: only devices in this admission status (pending, preauthorized, accepted, rejected). */
  async listDevices(fleet?: string, status?: string): Promise<DeviceSummary[]> {
    const params = new URLSearchParams({
      ...(fleet === undefined ? {} : { fleet }),
      ...(status === undefined ? {} : { status }),
    }).toString();
    const query = params === '' ? '' : `?${params}`;
    return this.call('GET', `${paths.devices}${query}`, DeviceListSchema);
  }

  async getDevice(uuid: string): Promise<DeviceDetail> {
    return this.call('GET', paths.device(uuid), DeviceDetailSchema);
  }

  /** `release` is a release id or version of the device's fleet. */
  async pinDevice(uuid: string, release: string): Promise<DeviceDetail> {
    const body = parse(PinRequestSchema, { release }, 'the pin request');
    return this.call('POST', paths.devicePin(uuid), DeviceDetailSchema, body);
  }

  async trackFleet(uuid: string): Promise<DeviceDetail> {
    return this.call('POST', paths.deviceTrackFleet(uuid), DeviceDetailSchema, {});
  }

  async revokeDevice(uuid: string): Promise<DeviceDetail> {
    return this.call('POST', paths.deviceRevoke(uuid), DeviceDetailSchema, {});
  }

  async acceptDevice(uuid: string): Promise<DeviceDetail> {
    return this.call('POST', paths.deviceAccept(uuid), DeviceDetailSchema, {});
  }

  async rejectDevice(uuid: string): Promise<DeviceDetail> {
    return this.call('POST', paths.deviceReject(uuid), DeviceDetailSchema, {});
  }

  /** Name, note (null clears it) or tags (replacing them). */
  async updateDevice(uuid: string, change: UpdateDeviceRequest): Promise<DeviceDetail> {
    const body = parse(UpdateDeviceRequestSchema, change, 'the device change');
    return this.call('PATCH', paths.device(uuid), DeviceDetailSchema, body);
  }

  /** Admits a device's public key before it calls: it is accepted on first contact. */
  async preauthorizeDevice(request: PreauthorizeRequest): Promise<DeviceDetail> {
    const body = parse(PreauthorizeRequestSchema, request, 'the pre-authorization');
    return this.call('POST', paths.devices, DeviceDetailSchema, body);
  }

  async me(): Promise<User> {
    return this.call('GET', paths.me, UserSchema);
  }

  async listUsers(): Promise<User[]> {
    return this.call('GET', paths.users, UserListSchema);
  }

  async createUser(request: CreateUserRequest): Promise<User> {
    const body = parse(CreateUserRequestSchema, request, 'the new user');
    return this.call('POST', paths.users, UserSchema, body);
  }

  async listTokens(user: string): Promise<ApiToken[]> {
    return this.call('GET', paths.userTokens(user), TokenListSchema);
  }

  /** The answer holds the token itself: the only time the API shows it. */
  async createToken(user: string, label?: string): Promise<NewApiToken> {
    const body = parse(CreateTokenRequestSchema, label === undefined ? {} : { label }, 'the new token');
    return this.call('POST', paths.userTokens(user), NewApiTokenSchema, body);
  }

  async revokeToken(user: string, tokenId: string): Promise<ApiToken> {
    return this.call('DELETE', paths.userToken(user, tokenId), ApiTokenSchema);
  }

  async listProvisioningKeys(fleet: string): Promise<ProvisioningKey[]> {
    return this.call('GET', provisioningKeyPaths.keys(fleet), ProvisioningKeyListSchema);
  }

  /** The answer holds the key's secret: the only time the API shows it. */
  async createProvisioningKey(fleet: string, request: CreateProvisioningKeyRequest): Promise<NewProvisioningKey> {
    const body = parse(CreateProvisioningKeyRequestSchema, request, 'the new provisioning key');
    return this.call('POST', provisioningKeyPaths.keys(fleet), NewProvisioningKeySchema, body);
  }

  async revokeProvisioningKey(fleet: string, id: string): Promise<ProvisioningKey> {
    return this.call('DELETE', provisioningKeyPaths.key(fleet, id), ProvisioningKeySchema);
  }

  async listAudit(filter: AuditFilter = {}): Promise<AuditEntry[]> {
    const query = new URLSearchParams();
    for (const [key, value] of Object.entries(filter)) if (value !== undefined) query.set(key, String(value));
    const text = query.toString();
    return this.call('GET', text === '' ? paths.audit : `${paths.audit}?${text}`, AuditListSchema);
  }

  /** `release` is a release id or version; the answer has its image verification. */
  async getRelease(fleet: string, release: string): Promise<Release> {
    return this.call('GET', paths.release(fleet, release), ReleaseSchema);
  }

  async updateFleet(fleet: string, change: FleetSettingsChange): Promise<Fleet> {
    const body = parse(FleetSettingsChangeSchema, change, 'the fleet change');
    return this.call('PATCH', paths.fleet(fleet), FleetSchema, body);
  }

  /** Devices of the fleet ignore their update window for `minutes` (the API's default when absent). */
  async fleetUpdateNow(fleet: string, minutes?: number): Promise<Fleet> {
    return this.call('POST', configPaths.fleetUpdateNow(fleet), FleetSchema, minutes === undefined ? {} : { minutes });
  }

  async fleetVars(fleet: string): Promise<ConfigVars> {
    return this.call('GET', configPaths.fleetVars(fleet), ConfigVarsSchema);
  }

  async setFleetVar(fleet: string, name: string, value: string): Promise<ConfigVars> {
    return this.call('PUT', configPaths.fleetVar(fleet, name), ConfigVarsSchema, { value });
  }

  async unsetFleetVar(fleet: string, name: string): Promise<ConfigVars> {
    return this.call('DELETE', configPaths.fleetVar(fleet, name), ConfigVarsSchema);
  }

  async deviceConfig(uuid: string): Promise<DeviceConfigView> {
    return this.call('GET', configPaths.device(uuid), DeviceConfigViewSchema);
  }

  async updateDeviceConfig(uuid: string, change: DeviceSettingsChange): Promise<DeviceConfigView> {
    const body = parse(DeviceSettingsChangeSchema, change, 'the device settings change');
    return this.call('PATCH', configPaths.device(uuid), DeviceConfigViewSchema, body);
  }

  async deviceUpdateNow(uuid: string, minutes?: number): Promise<DeviceConfigView> {
    return this.call(
      'POST',
      configPaths.deviceUpdateNow(uuid),
      DeviceConfigViewSchema,
      minutes === undefined ? {} : { minutes },
    );
  }

  async setDeviceVar(uuid: string, name: string, value: string): Promise<DeviceConfigView> {
    return this.call('PUT', configPaths.deviceVar(uuid, name), DeviceConfigViewSchema, { value });
  }

  async unsetDeviceVar(uuid: string, name: string): Promise<DeviceConfigView> {
    return this.call('DELETE', configPaths.deviceVar(uuid, name), DeviceConfigViewSchema);
  }

  /** A signed RAUC bundle (its file, streamed) as host OS release `version` of `deviceType`. */
  async uploadOsRelease(bundle: Blob, deviceType: string, version: string): Promise<OsRelease> {
    const query = new URLSearchParams(
      parse(OsUploadQuerySchema, { deviceType, version }, 'the host OS release'),
    ).toString();
    return this.call('POST', `${osPaths.releases}?${query}`, OsReleaseSchema, undefined, {
      body: bundle,
      type: 'application/octet-stream',
    });
  }

  async listOsReleases(deviceType?: string): Promise<OsRelease[]> {
    const query = deviceType === undefined ? '' : `?${new URLSearchParams({ deviceType }).toString()}`;
    return this.call('GET', `${osPaths.releases}${query}`, OsReleaseListSchema);
  }

  async deleteOsRelease(id: string): Promise<OsRelease> {
    return this.call('DELETE', osPaths.release(id), OsReleaseSchema);
  }

  /** `release`: a host OS release id or version of the fleet's device type. */
  async pinFleetOs(fleet: string, release: string): Promise<OsPin> {
    return this.call(
      'PUT',
      osPaths.fleetPin(fleet),
      OsPinSchema,
      parse(OsPinRequestSchema, { release }, 'the host OS pin'),
    );
  }

  async unpinFleetOs(fleet: string): Promise<OsPin> {
    return this.call('DELETE', osPaths.fleetPin(fleet), OsPinSchema);
  }

  async fleetOs(fleet: string): Promise<OsPin> {
    return this.call('GET', osPaths.fleetPin(fleet), OsPinSchema);
  }

  /** `release`: a host OS release id or version of the device's type. */
  async pinDeviceOs(uuid: string, release: string): Promise<OsPin> {
    return this.call(
      'PUT',
      osPaths.devicePin(uuid),
      OsPinSchema,
      parse(OsPinRequestSchema, { release }, 'the host OS pin'),
    );
  }

  async unpinDeviceOs(uuid: string): Promise<OsPin> {
    return this.call('DELETE', osPaths.devicePin(uuid), OsPinSchema);
  }

  async deviceOs(uuid: string): Promise<OsPin> {
    return this.call('GET', osPaths.devicePin(uuid), OsPinSchema);
  }

  private async call<T extends TSchema>(
    method: string,
    path: string,
    schema: T,
    body?: unknown,
    raw?: RawBody,
  ): Promise<Static<T>> {
    const url = `${this.baseUrl}${path}`;
    const request = `${method} ${url}`;
    const headers: Record<string, string> = { accept: 'application/json, application/problem+json' };
    if (this.token !== null) headers.authorization = `Bearer ${this.token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (raw !== undefined) headers['content-type'] = raw.type;

    let response: Response;
    let text: string;
    try {
      response = await this.fetchFn(url, {
        method,
        headers,
        body: raw !== undefined ? raw.body : body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(raw === undefined ? this.timeoutMs : Math.max(this.timeoutMs, UPLOAD_TIMEOUT_MS)),
      });
      text = await response.text();
    } catch (err) {
      throw new ApiUnreachableError(url, fetchFailureReason(err));
    }

    const json = parseJson(text);
    if (!response.ok) {
      if (json.ok && check(ProblemSchema, json.value).length === 0) {
        throw new ApiProblemError(request, json.value as Problem);
      }
      const snippet = text.trim().slice(0, 200) || '(empty body)';
      throw new ApiAnswerError(request, `HTTP ${response.status} ${response.statusText}: ${snippet}`);
    }
    if (!json.ok) throw new ApiAnswerError(request, `the answer is not JSON (${json.error})`);
    return parse(schema, json.value, `the answer to ${request}`);
  }
}

function parseJson(text: string): { ok: true; value: unknown } | { ok: false; error: string } {
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch (err) {
    return { ok: false, error: err instanceof Error ? err.message : String(err) };
  }
}
