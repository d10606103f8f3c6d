// Release review: which releases ask for host privileges, and whether a fleet lets a release reach its devices
// before an operator of that fleet approved it. A container that runs privileged, in the host's network, with the
// host's devices, dangerous capabilities or the host's files can take the whole device over, so a release asking
// for any of that is marked for review with the reasons, and by default waits for an operator's approval.
import { Type, type Static } from '@sinclair/typebox';
import type { ServiceSpec } from './target-state.js';

/**
 * When a release of the fleet needs an operator's approval before devices get it: 'privileged' (the default) only
 * when it is marked for review, 'always' every release, 'never' none (reasons are still recorded and shown).
 */
export const APPROVAL_POLICIES = ['privileged', 'always', 'never'] as const;
export const ApprovalPolicySchema = Type.Union(APPROVAL_POLICIES.map((p) => Type.Literal(p)));
export type ApprovalPolicy = Static<typeof ApprovalPolicySchema>;
export const DEFAULT_APPROVAL_POLICY: ApprovalPolicy = 'privileged';

/**
 * Where a release stands: 'not-required' (runs once ready), 'pending' (held until approved), 'approved' or
 * 'rejected' (never runs). Decided when the release is pushed, by the fleet's policy then: a later change of the
 * policy never holds a release devices may already run, nor lets one through that nobody approved.
 */
export const APPROVAL_STATES = ['not-required', 'pending', 'approved', 'rejected'] as const;
export const ApprovalStateSchema = Type.Union(APPROVAL_STATES.map((s) => Type.Literal(s)));
export type ApprovalState = Static<typeof ApprovalStateSchema>;

/** An absolute host path, normalised: no `.` or `..` parts, no trailing slash, no doubled slash. */
export const HostPathSchema = Type.String({
  minLength: 1,
  maxLength: 1024,
  pattern: '^/$|^(/[^/\\x00-\\x1f]+)+$',
});

export const MAX_ALLOWED_HOST_PATHS = 64;

/** A fleet's review rules. */
export const FleetReviewSchema = Type.Object({
  approval: ApprovalPolicySchema,
  /** Host paths (and everything under them) services may bind-mount without review. Default: none. */
  allowedHostPaths: Type.Array(HostPathSchema, { maxItems: MAX_ALLOWED_HOST_PATHS }),
});
export type FleetReview = Static<typeof FleetReviewSchema>;

export const DEFAULT_FLEET_REVIEW: FleetReview = { approval: DEFAULT_APPROVAL_POLICY, allowedHostPaths: [] };

/** PUT of a fleet's review rules: the fields given replace the fleet's. */
export const FleetReviewChangeSchema = Type.Partial(
  Type.Object({
    approval: ApprovalPolicySchema,
    allowedHostPaths: Type.Array(HostPathSchema, { maxItems: MAX_ALLOWED_HOST_PATHS, uniqueItems: true }),
  }),
  { additionalProperties: false, minProperties: 1 },
);
export type FleetReviewChange = Static<typeof FleetReviewChangeSchema>;

/** A release's review: why it was marked, and the decision. */
export const ReleaseReviewSchema = Type.Object({
  approval: ApprovalStateSchema,
  /** Why it asks for host privileges, one line each ("service reader: privileged"); empty: it asks for none. */
  reasons: Type.Array(Type.String()),
  /** Who approved or rejected it, when, and why; null while undecided. */
  decidedBy: Type.Union([Type.String(), Type.Null()]),
  decidedAt: Type.Union([Type.String(), Type.Null()]),
  note: Type.Union([Type.String(), Type.Null()]),
});
export type ReleaseReview = Static<typeof ReleaseReviewSchema>;

/** The body of approving or rejecting a release. */
export const ReviewDecisionRequestSchema = Type.Object(
  {
    /** Why, for the audit log and the release. */
    note: Type.Optional(Type.String({ minLength: 1, maxLength: 2000 })),
  },
  { additionalProperties: false },
);
export type ReviewDecisionRequest = Static<typeof ReviewDecisionRequestSchema>;

/**
 * Capabilities that open the host: loading modules, raw devices and I/O, other processes' memory, the network
 * stack, the clock, file permission checks, the LSMs, BPF. Compose writes them with or without CAP_, in any case.
 */
export const DANGEROUS_CAPABILITIES: readonly string[] = [
  'ALL',
  'SYS_ADMIN',
  'SYS_MODULE',
  'SYS_RAWIO',
  'SYS_PTRACE',
  'SYS_BOOT',
  'SYS_TIME',
  'NET_ADMIN',
  'DAC_READ_SEARCH',
  'DAC_OVERRIDE',
  'MAC_ADMIN',
  'MAC_OVERRIDE',
  'BPF',
  'PERFMON',
  'LINUX_IMMUTABLE',
];

function capabilityName(cap: string): string {
  const upper = cap.toUpperCase();
  return upper.startsWith('CAP_') ? upper.slice(4) : upper;
}

/** `path` lexically normalised ('/a/./b/../c/' is '/a/c'); null for a relative path. */
export function normalHostPath(path: string): string | null {
  if (!path.startsWith('/')) return null;
  const parts: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') parts.pop();
    else parts.push(part);
  }
  return `/${parts.join('/')}`;
}

/** Whether `source` is one of `allowed` or below one of them. */
export function hostPathAllowed(source: string, allowed: readonly string[]): boolean {
  const path = normalHostPath(source);
  if (path === null) return false;
  return allowed.some((root) => {
    const base = normalHostPath(root);
    if (base === null) return false;
    return base === '/' || path === base || path.startsWith(`${base}/`);
  });
}

/** Values printed in a reason: as JSON strings, so a newline or an escape in a compose file stays visible text. */
const quoted = (value: string): string => JSON.stringify(value.length > 200 ? `${value.slice(0, 200)}...` : value);

/** Why the services ask for host privileges, one reason per finding; empty when they ask for none. */
export function reviewReasons(services: readonly ServiceSpec[], allowedHostPaths: readonly string[]): string[] {
  const reasons: string[] = [];
  for (const s of services) {
    const at = `service ${s.name}`;
    if (s.privileged) reasons.push(`${at}: privileged`);
    if (s.networkMode === 'host') reasons.push(`${at}: network_mode host`);
    for (const device of s.devices) reasons.push(`${at}: host device ${quoted(device)}`);
    for (const cap of s.capAdd ?? []) {
      if (DANGEROUS_CAPABILITIES.includes(capabilityName(cap))) reasons.push(`${at}: cap_add ${quoted(cap)}`);
    }
    for (const opt of s.securityOpt ?? []) {
      if (/unconfined|label[=:]disable/i.test(opt)) reasons.push(`${at}: security_opt ${quoted(opt)}`);
    }
    for (const mount of s.volumes) {
      if (mount.type !== 'bind') continue;
      const source = mount.source ?? '';
      if (!hostPathAllowed(source, allowedHostPaths))
        reasons.push(`${at}: binds host path ${quoted(source)}, not in the fleet's allowed host paths`);
    }
  }
  return reasons;
}

/** Where a release pushed now stands, by the fleet's policy and the release's reasons. */
export function initialApproval(policy: ApprovalPolicy, reasons: readonly string[]): ApprovalState {
  if (policy === 'always') return 'pending';
  if (policy === 'privileged' && reasons.length > 0) return 'pending';
  return 'not-required';
}

/** Whether the approval lets devices have the release (its images must also be verified: status ready). */
export function approvalAllowsDevices(state: ApprovalState): boolean {
  return state === 'not-required' || state === 'approved';
}
