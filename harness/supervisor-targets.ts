// Small builders for target states, so tests state only what matters to them, and signed ones for tests that hand a
// device its target without an API.
import { generateKeyPairSync } from 'node:crypto';
import { encodePublicKey, signTarget } from '../protocol/signature.js';
import type { ServiceSpec, TargetState } from '../protocol/target-state.js';
import { DEFAULT_DEVICE_CONFIG } from '../protocol/target-state.js';
import type { SignedTarget } from '../supervisor/target/gate.js';

export const TEST_DEVICE_UUID = 'device-0000-test';

export function serviceSpec(name: string, image: string, extra: Partial<ServiceSpec> = {}): ServiceSpec {
  return {
    name,
    image,
    environment: {},
    labels: {},
    volumes: [],
    ports: [],
    networks: {},
    restart: 'always',
    privileged: false,
    devices: [],
    dependsOn: {},
    ...extra,
  };
}

export interface TargetExtras {
  releaseId?: string;
  volumes?: string[];
  networks?: string[];
  env?: Record<string, string>;
  uuid?: string;
  fleet?: string;
}

export function targetState(services: ServiceSpec[], extras: TargetExtras = {}): TargetState {
  const releaseId = extras.releaseId ?? 'rel-1';
  return {
    schemaVersion: 1,
    device: { uuid: extras.uuid ?? TEST_DEVICE_UUID, name: 'test-device' },
    fleet: { name: extras.fleet ?? 'meters' },
    release: { id: releaseId, version: releaseId },
    services,
    volumes: extras.volumes ?? [],
    networks: extras.networks ?? [],
    config: { ...DEFAULT_DEVICE_CONFIG, env: extras.env ?? {} },
  };
}

/** A syntactically valid digest reference that names no real image (for pure tests). */
export function fakeImage(repo: string, seed: string): string {
  const hex = Buffer.from(seed).toString('hex').padEnd(64, '0').slice(0, 64);
  return `registry.test:5000/${repo}@sha256:${hex}`;
}

/** A signing key of an API that is not running: devices given TEST_API_SIGNING_KEY accept what signedTarget signs. */
const testKeys = generateKeyPairSync('ed25519');

/** For a device config's apiSigningKey. */
export const TEST_API_SIGNING_KEY = encodePublicKey(testKeys.publicKey);

/** `target` with the signature the test API key gives it; `target` may be anything, even an invalid one. */
export function signedTarget<T extends TargetState>(target: T): SignedTarget & { target: T } {
  return { target, signature: signTarget(testKeys.privateKey, target) };
}
