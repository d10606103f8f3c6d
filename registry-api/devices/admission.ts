// Who gets in: the rules for a signed auth request, as a pure function of what the store knows about the uuid and
// the public key. Store implementations run it inside their transaction and carry out the decision; the rules live
// here once, whatever the database.
//
// The one rule above all: a known uuid is never handed to another key. A provisioning key admits new devices, it
// does not vouch for "I am device X", so a device with the fleet's key cannot take over another's identity.
import { deviceUuidProblem } from '../../protocol/device-auth.js';
import { unauthorized } from '../http/problem.js';
import { hashSecret } from '../keys/secrets.js';
import type { AuthAttempt, DeviceRecord, ProvisioningKeyRecord, Store } from '../store/index.js';

/**
 * Why a provisioning key presented for `fleet` does not admit, or null when it does. The answer names only the
 * presented key's own state, never the fleet's other keys: whoever holds a revoked key learns no more than that.
 */
export function provisioningKeyRefusal(key: ProvisioningKeyRecord | null, fleet: string, at: string): string | null {
  if (key === null) return `the provisioning key is not a key of fleet '${fleet}'`;
  if (key.revokedAt !== null)
    return `the provisioning key was revoked for fleet '${fleet}' at ${key.revokedAt}; ask an operator for a current key`;
  if (key.expiresAt !== null && key.expiresAt <= at)
    return `the provisioning key of fleet '${fleet}' expired at ${key.expiresAt}; ask an operator for a current key`;
  return null;
}

export interface PresentedKey {
  fleet: string;
  uuid: string;
  publicKey: string;
  /** The provisioning key's secret as the device sent it. */
  secret: string;
}

/**
 * Throws the 401 unless the secret is a valid, unexpired, unrevoked key of the fleet. A device already accepted
 * into that fleet with this public key passes whatever its key's state: devices resend the key they were installed
 * with at every auth, and revoking a leaked key must not lock out the devices it admitted (their signature, checked
 * before this, is what proves them).
 */
export async function checkProvisioningKey(
  store: Pick<Store, 'provisioningKeys' | 'devices'>,
  presented: PresentedKey,
  at: string,
): Promise<void> {
  const refusal = provisioningKeyRefusal(
    await store.provisioningKeys.byHash(presented.fleet, hashSecret(presented.secret)),
    presented.fleet,
    at,
  );
  if (refusal === null) return;
  const known = await store.devices.get(presented.uuid);
  const admitted =
    known !== null &&
    known.uuid === presented.uuid &&
    known.publicKey === presented.publicKey &&
    known.fleet === presented.fleet &&
    known.authStatus === 'accepted';
  if (!admitted) throw unauthorized(refusal);
}

export type AdmissionDecision =
  /** Known device with this key, accepted: hand out the token. */
  | { kind: 'token'; device: DeviceRecord }
  /** Known device with this key, to be accepted now (pre-authorized, or pending and now provisioned). */
  | { kind: 'admit'; device: DeviceRecord; how: 'provisioning-key' | 'preauthorized' }
  /** A device from before device keys proved itself with its old bearer key: bind this key to it and admit it. */
  | { kind: 'bind-legacy'; device: DeviceRecord }
  /** A pre-authorization made without a uuid (or with another one) for this key: it becomes this device. */
  | { kind: 'adopt'; preauthorized: DeviceRecord }
  | { kind: 'create'; fleet: string; status: 'accepted' | 'pending' }
  /** Known, with this key, waiting for an operator: nothing changes. */
  | { kind: 'still-pending'; device: DeviceRecord }
  | { kind: 'rejected'; device: DeviceRecord }
  | { kind: 'conflict'; reason: string }
  /** A new device (created or adopting a pre-authorization) with a uuid not of the one allowed form. */
  | { kind: 'invalid-uuid'; reason: string }
  | { kind: 'no-fleet' };

export interface AdmissionFacts {
  attempt: AuthAttempt;
  byUuid: DeviceRecord | null;
  byKey: DeviceRecord | null;
  /** Whether the legacy bearer key the request carried is byUuid's old device key. */
  legacyKeyMatches: boolean;
}

/**
 * New uuids must be of the fixed form (protocol/device-auth.ts): a free-form one could equal another device's
 * short id and catch the commands operators give by that short id. Known devices keep the uuid they have.
 */
function newUuid(attempt: AuthAttempt, decision: AdmissionDecision): AdmissionDecision {
  const problem = deviceUuidProblem(attempt.uuid);
  return problem === null ? decision : { kind: 'invalid-uuid', reason: problem };
}

export function decideAdmission({ attempt, byUuid, byKey, legacyKeyMatches }: AdmissionFacts): AdmissionDecision {
  if (byKey !== null && byKey.uuid !== attempt.uuid) {
    // A pre-authorized key that never called yet may arrive with the uuid the device chose itself.
    if (byKey.authStatus === 'preauthorized' && byKey.lastSeen === null && byUuid === null)
      return newUuid(attempt, { kind: 'adopt', preauthorized: byKey });
    return { kind: 'conflict', reason: `public key is already the key of device '${byKey.uuid}'` };
  }
  if (byUuid === null) {
    if (attempt.fleet === undefined) return { kind: 'no-fleet' };
    return newUuid(attempt, {
      kind: 'create',
      fleet: attempt.fleet,
      status: attempt.provisioned ? 'accepted' : 'pending',
    });
  }
  if (byUuid.publicKey === null) {
    if (byUuid.authStatus === 'rejected') return { kind: 'rejected', device: byUuid };
    if (legacyKeyMatches) return { kind: 'bind-legacy', device: byUuid };
    return {
      kind: 'conflict',
      reason: `device '${byUuid.uuid}' is known from before device keys: it must send its old device key as its bearer token once, or an operator must pre-authorize its public key`,
    };
  }
  if (byUuid.publicKey !== attempt.publicKey) {
    return {
      kind: 'conflict',
      reason: `device '${byUuid.uuid}' is known with another public key; a uuid is never handed to another key (an operator can revoke it and pre-authorize the new key under a new uuid)`,
    };
  }
  // Admission into another fleet than the device's would move it silently; its fleet is changed by operators.
  if (attempt.provisioned && attempt.fleet !== byUuid.fleet) {
    return {
      kind: 'conflict',
      reason: `device '${byUuid.uuid}' belongs to fleet '${byUuid.fleet}', not '${attempt.fleet ?? ''}'`,
    };
  }
  switch (byUuid.authStatus) {
    case 'accepted':
      return { kind: 'token', device: byUuid };
    case 'preauthorized':
      return { kind: 'admit', device: byUuid, how: 'preauthorized' };
    case 'pending':
      return attempt.provisioned
        ? { kind: 'admit', device: byUuid, how: 'provisioning-key' }
        : { kind: 'still-pending', device: byUuid };
    case 'rejected':
      return { kind: 'rejected', device: byUuid };
  }
}
