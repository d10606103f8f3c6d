// First contact: a device with no key registers itself with the fleet's provisioning key and keeps the key it
// gets, and the API's target signing key. The uuid is the device's own, so a registration retried after a lost
// answer is the same device.
import { setTimeout as sleep } from 'node:timers/promises';
import type { RegisterResponse } from '../protocol/api.js';
import { decodePublicKey } from '../protocol/signature.js';
import type { Logger } from '../lib/logger.js';
import { messageOf } from '../lib/errors.js';
import type { ApiClient } from './api-client.js';
import { backoffDelay, withJitter, type BackoffPolicy } from './backoff.js';
import type { IdentifiedConfig } from './config.js';

export type ProvisionedConfig = IdentifiedConfig & { deviceKey: string };

export interface ProvisionOptions {
  api: ApiClient;
  log: Logger;
  save: (config: ProvisionedConfig) => Promise<void>;
  /** Aborting ends the retries (shutdown); the promise then rejects with the abort reason. */
  signal: AbortSignal;
  retry?: BackoffPolicy;
}

/**
 * The signing key to keep from a registration answer. A key already in the config was pinned by whoever
 * provisioned the device: an API presenting another one is not trusted with this device.
 */
function signingKeyFrom(answer: RegisterResponse, pinned: string | undefined): string {
  decodePublicKey(answer.signingKey, 'the signing key in the registration answer');
  if (pinned !== undefined && pinned !== answer.signingKey) {
    throw new Error(`the API signs with key ${answer.signingKey}, not with the key ${pinned} this device's config pins`);
  }
  return answer.signingKey;
}

/**
 * The config with a device key: the one it has, or one obtained by registering (retried until it works). A device
 * that already has a key is taken as it is, even without apiSigningKey: it then refuses every target (see target.ts).
 */
export async function ensureProvisioned(config: IdentifiedConfig, options: ProvisionOptions): Promise<ProvisionedConfig> {
  if (config.deviceKey !== undefined) return { ...config, deviceKey: config.deviceKey };
  const { api, log, signal } = options;
  const retry = options.retry ?? { initialMs: 2_000, maxMs: 300_000 };
  for (let attempt = 1; ; attempt++) {
    signal.throwIfAborted();
    try {
      const answer = await api.register({
        fleet: config.fleet,
        provisioningKey: config.provisioningKey,
        uuid: config.uuid,
        deviceType: config.deviceType,
        ...(config.name === undefined ? {} : { name: config.name }),
      });
      const apiSigningKey = signingKeyFrom(answer, config.apiSigningKey);
      const provisioned: ProvisionedConfig = { ...config, name: answer.name, deviceKey: answer.deviceKey, apiSigningKey };
      await options.save(provisioned);
      log.info({ uuid: config.uuid, fleet: answer.fleet, name: answer.name }, 'device registered');
      return provisioned;
    } catch (err) {
      const delay = withJitter(backoffDelay(attempt, retry), 0.1);
      log.warn({ err: messageOf(err), attempt, retryInMs: delay }, 'registration failed');
      await sleep(delay, undefined, { signal });
    }
  }
}
