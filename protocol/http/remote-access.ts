// The second way into a device: its reverse SSH tunnel to a jump host, and operators' short-lived SSH certificates.
// A device registers the public half of its tunnel key (a device route, apart so a supervisor loads only it); the
// API assigns it a port on the jump host and puts the jump host, the port and its SSH CA into the device's signed
// target (protocol/target-state.ts, `tunnel`). The jump host's sshd asks the API which key may do what
// (AuthorizedKeysCommand, AuthorizedPrincipalsCommand: scripts/jump-host-keys.sh), with a token of its own. An
// operator or admin gets a certificate for one device, valid minutes, and the API audits the session it opens.
// The supervisor loads this module: it imports no people's schema (problem answers are described in words).
import { Type, type Static } from '@sinclair/typebox';
import { SshPublicKeySchema } from '../target-state.js';
import type { RouteSpec } from './route.js';

/** An ed25519 OpenSSH public key without comment: what devices and the CLI generate. */
export const Ed25519PublicKeySchema = Type.String({
  minLength: 80,
  maxLength: 100,
  pattern: '^ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI[A-Za-z0-9+/]{43}=?$',
});

export const TunnelKeyRequestSchema = Type.Object(
  { publicKey: Ed25519PublicKeySchema },
  { additionalProperties: false },
);
export type TunnelKeyRequest = Static<typeof TunnelKeyRequestSchema>;

export const TunnelKeyAnswerSchema = Type.Object(
  {
    /**
     * The port the device's forward may listen on, on the jump host's loopback; stable while the device stays. Null:
     * this API has no jump host, so the key is not kept (an answer, not an error: most fleets run without one).
     */
    remotePort: Type.Union([Type.Integer({ minimum: 1, maximum: 65535 }), Type.Null()]),
  },
  { additionalProperties: false },
);
export type TunnelKeyAnswer = Static<typeof TunnelKeyAnswerSchema>;

/** What the certificate is for, as the audit log shows it: a login (`skiff ssh`) or a port forward (`skiff tunnel`). */
export const SshPurposeSchema = Type.Union([Type.Literal('ssh'), Type.Literal('tunnel')]);

export const SshCertificateRequestSchema = Type.Object(
  {
    publicKey: Ed25519PublicKeySchema,
    purpose: SshPurposeSchema,
    /** For `tunnel`: LOCAL:REMOTE as asked, for the audit log. */
    forward: Type.Optional(Type.String({ maxLength: 64, pattern: '^[0-9]{1,5}:([A-Za-z0-9.-]{1,253}:)?[0-9]{1,5}$' })),
  },
  { additionalProperties: false },
);
export type SshCertificateRequest = Static<typeof SshCertificateRequestSchema>;

export const SshCertificateAnswerSchema = Type.Object(
  {
    /** Names the session in the audit log; the CLI reports its end under it. */
    session: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9-]+$' }),
    /** The OpenSSH user certificate (the -cert.pub file's content). */
    certificate: Type.String({ minLength: 1, maxLength: 8192 }),
    principal: Type.String({ minLength: 1, maxLength: 64 }),
    validAfter: Type.String({ format: 'date-time' }),
    validBefore: Type.String({ format: 'date-time' }),
    jumpHost: Type.Object(
      {
        host: Type.String({ minLength: 1, maxLength: 253 }),
        port: Type.Integer({ minimum: 1, maximum: 65535 }),
        user: Type.String({ minLength: 1, maxLength: 32 }),
        hostKey: SshPublicKeySchema,
      },
      { additionalProperties: false },
    ),
    /** The device's port on the jump host's loopback. */
    remotePort: Type.Integer({ minimum: 1, maximum: 65535 }),
  },
  { additionalProperties: false },
);
export type SshCertificateAnswer = Static<typeof SshCertificateAnswerSchema>;

export const SshSessionEndSchema = Type.Object(
  {
    /** ssh's exit status; null when it ended by a signal. */
    exitCode: Type.Union([Type.Integer({ minimum: 0, maximum: 255 }), Type.Null()]),
  },
  { additionalProperties: false },
);
export type SshSessionEnd = Static<typeof SshSessionEndSchema>;

export const SshSessionEndedSchema = Type.Object(
  {
    session: Type.String({ minLength: 1, maxLength: 64 }),
    /** From the certificate's issue to the end the CLI reported. */
    durationSeconds: Type.Integer({ minimum: 0 }),
  },
  { additionalProperties: false },
);
export type SshSessionEnded = Static<typeof SshSessionEndedSchema>;

/** What sshd hands an AuthorizedKeysCommand (%u %t %k): the login user, the key's type and base64 blob. */
export const AuthorizedKeysQuerySchema = Type.Object(
  {
    user: Type.String({ minLength: 1, maxLength: 32 }),
    type: Type.String({ minLength: 1, maxLength: 64 }),
    key: Type.String({ minLength: 1, maxLength: 1024, pattern: '^[A-Za-z0-9+/]+={0,3}$' }),
  },
  { additionalProperties: false },
);

/** What sshd hands an AuthorizedPrincipalsCommand (%u %i): the login user and the certificate's key id. */
export const AuthorizedPrincipalsQuerySchema = Type.Object(
  {
    user: Type.String({ minLength: 1, maxLength: 32 }),
    keyId: Type.String({ minLength: 1, maxLength: 128 }),
  },
  { additionalProperties: false },
);

const TEXT = 'text/plain';

export const DEVICE_REMOTE_ACCESS_ROUTES = {
  registerTunnelKey: {
    method: 'PUT',
    path: '/v1/device/:uuid/tunnel-key',
    access: 'device',
    summary:
      "The device's tunnel key (the public half): the jump host admits it, for the device's own port only. Answers that port",
    body: TunnelKeyRequestSchema,
    bodyName: 'the tunnel key',
    example: { publicKey: `ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI${'A'.repeat(43)}` },
    responses: {
      200: {
        description: 'Registered; the port is in the target from now on (null: this API has no jump host)',
        schema: TunnelKeyAnswerSchema,
      },
    },
  },
} as const satisfies Record<string, RouteSpec>;

export const REMOTE_ACCESS_ROUTES = {
  issueSshCertificate: {
    method: 'POST',
    path: '/v1/devices/:uuid/ssh-certificates',
    access: { action: 'device.ssh' },
    summary:
      "A short-lived SSH user certificate for the caller's key, valid on this device only (its principal), through the jump host; audited",
    body: SshCertificateRequestSchema,
    bodyName: 'the certificate request',
    example: { publicKey: `ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI${'A'.repeat(43)}`, purpose: 'ssh' },
    responses: {
      201: { description: 'The certificate and how to reach the device', schema: SshCertificateAnswerSchema },
      409: { description: 'The device is not accepted, or has no tunnel yet (problem+json)' },
      501: { description: 'This API has no jump host configured (problem+json)' },
    },
  },
  endSshSession: {
    method: 'POST',
    path: '/v1/devices/:uuid/ssh-sessions/:session/end',
    access: { action: 'device.ssh' },
    summary: 'The CLI reports the end of a session it opened: the audit log gets its duration',
    body: SshSessionEndSchema,
    bodyName: 'the session end',
    example: { exitCode: 0 },
    responses: { 200: { description: 'Recorded in the audit log', schema: SshSessionEndedSchema } },
  },
  jumpHostAuthorizedKeys: {
    method: 'GET',
    path: '/v1/jump-host/authorized-keys',
    access: { action: 'jump-host.keys' },
    summary:
      "The jump host's AuthorizedKeysCommand: the authorized_keys line for a device's tunnel key (its own port, no shell), or nothing",
    query: AuthorizedKeysQuerySchema,
    responses: { 200: { description: 'authorized_keys lines (maybe none)', schema: Type.String(), mediaType: TEXT } },
  },
  jumpHostPrincipals: {
    method: 'GET',
    path: '/v1/jump-host/principals',
    access: { action: 'jump-host.keys' },
    summary:
      "The jump host's AuthorizedPrincipalsCommand: for a live operator certificate, its principal with a forward to its device's port only",
    query: AuthorizedPrincipalsQuerySchema,
    responses: { 200: { description: 'principal lines (maybe none)', schema: Type.String(), mediaType: TEXT } },
  },
} as const satisfies Record<string, RouteSpec>;
