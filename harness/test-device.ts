// A device as the API sees one, for tests of the device routes: its own Ed25519 key pair, signed auth requests
// (protocol/device-auth.ts) over real HTTP, and the token it gets. The supervisor does the same in
// supervisor/online/session.ts; this one lets a test send what a supervisor never would (bad signatures, old
// timestamps, someone else's uuid).
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import {
  DEVICE_SIGNATURE_HEADER,
  DeviceAuthResponseSchema,
  NEW_KEY_SIGNATURE_HEADER,
  signDeviceRequest,
  type DeviceAuthRequest,
  type DeviceAuthResponse,
} from '../protocol/device-auth.js';
import { encodePublicKey } from '../protocol/signature.js';
import { parse } from '../protocol/validate.js';
import { paths } from '../protocol/http/paths.js';
import { readAnswerBody } from './http-answer.js';

export interface AuthAnswer {
  status: number;
  text: string;
  json: unknown;
}

export interface AuthOptions {
  fleet?: string;
  provisioningKey?: string;
  name?: string;
  deviceType?: string;
  /** The OCI platform the device says it runs (linux/arm64, ...); absent: it does not say, as older supervisors. */
  platform?: string;
  /** Overrides the (increasing) signing time. */
  timestamp?: string;
  /** Signs with this key instead of the device's own. */
  signWith?: KeyObject;
  /** Sent as the bearer token: a legacy device key. */
  bearer?: string;
}

export class TestDevice {
  private lastMs = 0;

  private constructor(
    readonly uuid: string,
    public privateKey: KeyObject,
    public publicKey: string,
    /** The device's clock: the API's when a test moves the API's. */
    private readonly now: () => Date,
  ) {}

  static create(uuid: string, now: () => Date = () => new Date()): TestDevice {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    return new TestDevice(uuid, privateKey, encodePublicKey(publicKey), now);
  }

  /** A time later than any this device signed before. */
  timestamp(): string {
    this.lastMs = Math.max(this.now().getTime(), this.lastMs + 1);
    return new Date(this.lastMs).toISOString();
  }

  authBody(options: AuthOptions = {}): DeviceAuthRequest {
    return {
      uuid: this.uuid,
      publicKey: this.publicKey,
      deviceType: options.deviceType ?? 'generic-amd64',
      ...(options.platform === undefined ? {} : { platform: options.platform }),
      ...(options.name === undefined ? {} : { name: options.name }),
      ...(options.fleet === undefined ? {} : { fleet: options.fleet }),
      ...(options.provisioningKey === undefined ? {} : { provisioningKey: options.provisioningKey }),
      timestamp: options.timestamp ?? this.timestamp(),
    };
  }

  /** POST paths.deviceAuth with a signed body; any answer. */
  async auth(baseUrl: string, options: AuthOptions = {}): Promise<AuthAnswer> {
    const body = this.authBody(options);
    return send(baseUrl, paths.deviceAuth, body, {
      [DEVICE_SIGNATURE_HEADER]: signDeviceRequest(options.signWith ?? this.privateKey, body),
      ...(options.bearer === undefined ? {} : { authorization: `Bearer ${options.bearer}` }),
    });
  }

  /** Authenticates and expects a token (200). */
  async token(baseUrl: string, options: AuthOptions = {}): Promise<DeviceAuthResponse> {
    const answer = await this.auth(baseUrl, options);
    if (answer.status !== 200) throw new Error(`device ${this.uuid}: auth answered ${answer.status}: ${answer.text}`);
    return parse(DeviceAuthResponseSchema, answer.json, `the auth answer for ${this.uuid}`);
  }

  /** POST paths.rotateKey to a fresh key pair, signed by the current and the new key; adopts the new key on 200. */
  async rotate(baseUrl: string): Promise<AuthAnswer> {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const body = { newPublicKey: encodePublicKey(publicKey), timestamp: this.timestamp() };
    const answer = await send(baseUrl, paths.rotateKey(this.uuid), body, {
      [DEVICE_SIGNATURE_HEADER]: signDeviceRequest(this.privateKey, body),
      [NEW_KEY_SIGNATURE_HEADER]: signDeviceRequest(privateKey, body),
    });
    if (answer.status === 200) {
      this.privateKey = privateKey;
      this.publicKey = body.newPublicKey;
    }
    return answer;
  }
}

async function send(
  baseUrl: string,
  path: string,
  body: unknown,
  headers: Record<string, string>,
): Promise<AuthAnswer> {
  const response = await fetch(`${baseUrl}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  const { text, json } = await readAnswerBody(response);
  return { status: response.status, text, json };
}
