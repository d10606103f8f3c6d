// The gate every target passes before the planner sees it, whether it comes from the API or from disk: the API's
// signature, then the wire schema, then the rules the schema cannot express. A target that fails here is refused
// as a whole, and the device keeps running what it runs.
import type { KeyObject } from 'node:crypto';
import { SignatureError, verifyTarget } from '../../protocol/signature.js';
import { TargetStateSchema, type TargetState } from '../../protocol/target-state.js';
import { parse, ValidationError, type Issue } from '../../protocol/validate.js';
import { strategyIssues } from '../plan/update-strategy.js';
import { healthLabelIssues } from '../app-health/declaration.js';
import type { ReleaseTrust } from './release-signature.js';

function dependencyCycle(target: TargetState): string[] | null {
  const deps = new Map(target.services.map((s) => [s.name, Object.keys(s.dependsOn)]));
  const done = new Set<string>();
  const visit = (name: string, trail: string[]): string[] | null => {
    if (trail.includes(name)) return [...trail.slice(trail.indexOf(name)), name];
    if (done.has(name)) return null;
    for (const dep of deps.get(name) ?? []) {
      const cycle = visit(dep, [...trail, name]);
      if (cycle !== null) return cycle;
    }
    done.add(name);
    return null;
  };
  for (const name of deps.keys()) {
    const cycle = visit(name, []);
    if (cycle !== null) return cycle;
  }
  return null;
}

function semanticIssues(target: TargetState, deviceUuid: string): Issue[] {
  const issues: Issue[] = [];
  if (target.device.uuid !== deviceUuid) {
    issues.push({ path: '/device/uuid', message: `is for device ${target.device.uuid}, this is ${deviceUuid}` });
  }
  const names = new Set<string>();
  target.services.forEach((s, i) => {
    const at = `/services/${i}`;
    if (names.has(s.name)) issues.push({ path: `${at}/name`, message: `duplicate service '${s.name}'` });
    names.add(s.name);
    // The compose normaliser refuses these at push already; a target carrying one did not come from a release.
    if (s.networkMode?.startsWith('service:') || s.networkMode?.startsWith('container:')) {
      issues.push({
        path: `${at}/networkMode`,
        message: `'${s.networkMode}' is not supported (only host, none, bridge or networks)`,
      });
    }
    s.volumes.forEach((v, j) => {
      if (v.type === 'bind' && v.source === undefined)
        issues.push({ path: `${at}/volumes/${j}/source`, message: 'a bind mount needs a source' });
      if (v.type === 'tmpfs' && v.source !== undefined)
        issues.push({ path: `${at}/volumes/${j}/source`, message: 'a tmpfs mount has no source' });
    });
  });
  target.services.forEach((s, i) => {
    for (const dep of Object.keys(s.dependsOn)) {
      if (!names.has(dep))
        issues.push({ path: `/services/${i}/dependsOn/${dep}`, message: `unknown service '${dep}'` });
    }
  });
  const cycle = dependencyCycle(target);
  if (cycle !== null) issues.push({ path: '/services', message: `dependency cycle ${cycle.join(' -> ')}` });
  issues.push(...strategyIssues(target));
  issues.push(...healthLabelIssues(target));
  return issues;
}

/** The target as a TargetState for this device, or a ValidationError listing everything wrong with it. */
export function acceptTarget(value: unknown, deviceUuid: string, what = 'target state'): TargetState {
  const target = parse(TargetStateSchema, value, what);
  const issues = semanticIssues(target, deviceUuid);
  if (issues.length > 0) throw new ValidationError(what, issues);
  return target;
}

/** A target with the Skiff-Signature value that vouches for it: kept together, so it can be checked again later. */
export interface SignedTarget {
  target: TargetState;
  signature: string;
}

/**
 * The API keys a device trusts: the pinned one, and while a rotation runs the next one, announced inside a target
 * signed with the pinned one. Held in one object the supervisor updates in place, so every client sees a change.
 */
export interface TrustedKeys {
  current: KeyObject;
  next: KeyObject | null;
}

/** Whether `signed` (verified already against some trusted key) carries a signature made by `key`. */
export function signedWith(key: KeyObject, signed: SignedTarget): boolean {
  try {
    verifyTarget(key, signed.target, signed.signature);
    return true;
  } catch {
    return false;
  }
}

/** The API's key(s) targets must be signed with; null on a device that pins none. */
export type TargetKey = KeyObject | TrustedKeys | null;

/**
 * The signature is checked first, on the value as parsed, so nothing of an altered or unsigned target is looked at;
 * then acceptTarget; then, on a device that pins release keys, the developer's signature of the release.
 * A device without a key refuses every target: it has no way to tell the API's from another.
 */
export function acceptSignedTarget(
  value: unknown,
  signature: string | null,
  key: TargetKey,
  deviceUuid: string,
  what = 'target state',
  releaseTrust: ReleaseTrust | null = null,
): SignedTarget {
  if (key === null) {
    throw new SignatureError(
      what,
      "this device pins no apiSigningKey in its config.json: write the API's key there (the signingKey field of " +
        "the API's GET /v1/info, read over a channel you trust)",
    );
  }
  const ring: TrustedKeys = 'current' in key ? key : { current: key, next: null };
  try {
    verifyTarget(ring.current, value, signature, what);
  } catch (err) {
    const next = ring.next;
    if (next === null || !(err instanceof SignatureError)) throw err;
    // Not the current key's: the announced next key's, or refused with the current key's reason.
    try {
      verifyTarget(next, value, signature, what);
    } catch {
      throw err;
    }
  }
  const target = acceptTarget(value, deviceUuid, what);
  releaseTrust?.check(target, what);
  return { target, signature };
}
