// The device's session with the API: the token it got by signing an auth request with its own key
// (protocol/device-auth.ts), kept in config.json so a restart, or an API that is away, does not need a new one.
// When the API refuses the token (expired, revoked and accepted again), the device clients call renew().
import type { DeviceAuthRequest, DeviceAuthResponse } from '../../protocol/device-auth.js';
import { signDeviceRequest } from '../../protocol/device-auth.js';
import { decodePublicKey } from '../../protocol/signature.js';
import type { Logger } from '../../lib/logger.js';
import { ApiError, type ApiClient, type DeviceCredentials } from './api-client.js';
import type { IdentifiedConfig } from '../config.js';
import type { DeviceIdentity } from '../device/identity.js';

/** A token this close to expiry is renewed before use rather than sent to be refused. */
const EXPIRY_MARGIN_MS = 5 * 60 * 1000;

export interface SessionOptions {
  /** A client without credentials: the auth request carries its own proof. */
  api: ApiClient;
  identity: DeviceIdentity;
  config: IdentifiedConfig;
  /** The platform the device runs images of, checked by the API against its fleet's device types. */
  platform?: string;
  save: (config: IdentifiedConfig) => Promise<void>;
  log: Logger;
  now?: () => Date;
}

export type SessionState = 'accepted' | 'pending';

/**
 * The signing key to keep from an auth answer: the one pinned at provisioning, never one learnt from the answer.
 * An API presenting another key is not trusted with this device (the key moves only through a signed rotation).
 */
function signingKeyFrom(answer: DeviceAuthResponse, pinned: string | undefined, next: string | undefined): string {
  decodePublicKey(answer.signingKey, 'the signing key in the auth answer');
  if (pinned === undefined) {
    throw new Error("this device's config pins no apiSigningKey; it does not learn one from the API it talks to");
  }
  // An API that finished its key rotation presents the next key before this device saw a target signed with it.
  if (pinned !== answer.signingKey && next !== answer.signingKey) {
    throw new Error(
      `the API signs with key ${answer.signingKey}, not with the key ${pinned} this device's config pins`,
    );
  }
  // What a signed target taught this device stays; an auth answer never moves the trusted key.
  return pinned;
}

export class DeviceSession implements DeviceCredentials {
  private config: IdentifiedConfig;
  /** How far the API's clock is ahead of ours, learnt from a stale-timestamp refusal (devices without an RTC). */
  private clockOffsetMs = 0;
  private lastTimestampMs = 0;
  private renewing: Promise<string> | undefined;
  private readonly now: () => Date;

  constructor(private readonly options: SessionOptions) {
    this.config = options.config;
    this.now = options.now ?? (() => new Date());
  }

  /** The config as last saved: with the token, the API's signing key, the name the API knows. */
  current(): IdentifiedConfig {
    return this.config;
  }

  /** Whether the cached token can be used without asking the API (it may still be refused: then renew()). */
  hasUsableToken(): boolean {
    const { deviceToken, deviceTokenExpiresAt } = this.config;
    if (deviceToken === undefined) return false;
    return (
      deviceTokenExpiresAt === undefined || Date.parse(deviceTokenExpiresAt) - EXPIRY_MARGIN_MS > this.now().getTime()
    );
  }

  token(): string {
    if (this.config.deviceToken === undefined)
      throw new Error(`device '${this.config.uuid}' has no token yet: it was not admitted`);
    return this.config.deviceToken;
  }

  /**
   * Saves the API keys this device trusts, as a target signed with the trusted key announced them (a rotation):
   * `next` besides `current`, or, once a target signed with the next key was accepted, that key alone.
   */
  async trustKeys(current: string, next: string | undefined): Promise<void> {
    const { apiNextSigningKey: _old, ...rest } = this.config;
    const updated: IdentifiedConfig = {
      ...rest,
      apiSigningKey: current,
      ...(next === undefined ? {} : { apiNextSigningKey: next }),
    };
    await this.options.save(updated);
    this.config = updated;
  }

  /** One new token, however many requests were refused at once. Throws unless the API admits the device. */
  renew(): Promise<string> {
    this.renewing ??= this.authenticate()
      .then((state) => {
        if (state !== 'accepted')
          throw new Error(`device '${this.config.uuid}' is pending: an operator must accept it before it gets a token`);
        return this.token();
      })
      .finally(() => {
        this.renewing = undefined;
      });
    return this.renewing;
  }

  /** One signed auth request (and one more if the API says our clock is off). Saves the token it gets. */
  async authenticate(): Promise<SessionState> {
    try {
      return await this.attempt();
    } catch (err) {
      if (
        !(err instanceof ApiError) ||
        err.problemType !== 'urn:skiff:problem:stale-timestamp' ||
        err.serverDate === null
      )
        throw err;
      this.clockOffsetMs = err.serverDate.getTime() - this.now().getTime();
      this.options.log.warn(
        { offsetMs: this.clockOffsetMs },
        "the API says this clock is off; signing with the API's time",
      );
      return this.attempt();
    }
  }

  private timestamp(): string {
    // Every signed timestamp must be later than the last: two within one millisecond would be a replay.
    const ms = Math.max(this.now().getTime() + this.clockOffsetMs, this.lastTimestampMs + 1);
    this.lastTimestampMs = ms;
    return new Date(ms).toISOString();
  }

  private async attempt(): Promise<SessionState> {
    const { config, identity } = { config: this.config, identity: this.options.identity };
    const body: DeviceAuthRequest = {
      uuid: config.uuid,
      publicKey: identity.publicKey,
      deviceType: config.deviceType,
      ...(this.options.platform === undefined ? {} : { platform: this.options.platform }),
      ...(config.name === undefined ? {} : { name: config.name }),
      ...(config.fleet === undefined ? {} : { fleet: config.fleet }),
      ...(config.provisioningKey === undefined ? {} : { provisioningKey: config.provisioningKey }),
      timestamp: this.timestamp(),
    };
    const outcome = await this.options.api.authenticate(
      body,
      signDeviceRequest(identity.privateKey, body),
      config.deviceKey,
    );
    if (outcome.kind === 'pending') {
      this.options.log.info({ shortId: outcome.answer.shortId }, outcome.answer.detail);
      return 'pending';
    }
    const { answer } = outcome;
    const apiSigningKey = signingKeyFrom(answer, config.apiSigningKey, config.apiNextSigningKey);
    // The legacy key did its one job (proving this is the device registered before keys), and so did the fleet's
    // provisioning key: from now on the device's own key admits it, and a key left on disk could admit others.
    const { deviceKey: _proved, provisioningKey: _used, ...rest } = config;
    const next: IdentifiedConfig = {
      ...rest,
      name: answer.name,
      apiSigningKey,
      deviceToken: answer.token,
      deviceTokenExpiresAt: answer.expiresAt,
    };
    await this.options.save(next);
    this.config = next;
    return 'accepted';
  }
}
