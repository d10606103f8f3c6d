// Releases of a fleet: the compose file as pushed, its normalised services and image digests, numbered per fleet
// (seq) and settled by verification from pending to ready or failed. Each change is audited in its transaction.
import { randomUUID } from 'node:crypto';
import { Type } from '@sinclair/typebox';
import { ReleaseStatusSchema, type ReleaseVerification } from '../../protocol/api.js';
import type { ReleaseSignature } from '../../protocol/release-signature.js';
import { ApprovalStateSchema } from '../../protocol/release-review.js';
import type { NetworkDefinition, ServiceSpec, VolumeDefinition } from '../../protocol/target-state.js';
import type { Audit } from './audit.js';
import { ConflictError, type ReleaseRecord, type ReleaseStatus, type ReleaseStore } from './index.js';
import { Nullable, type Database, type Queryable } from './sql/database.js';

const ReleaseRow = Type.Object({
  id: Type.String(),
  fleet: Type.String(),
  version: Type.String(),
  status: ReleaseStatusSchema,
  compose: Type.String(),
  spec: Type.String(),
  images: Type.String(),
  notes: Nullable(Type.String()),
  created_at: Type.String(),
  pushed_by: Nullable(Type.String()),
  verified_at: Nullable(Type.String()),
  /** JSON of ReleaseVerification['failure'] when the verification failed. */
  failure: Nullable(Type.String()),
  /** JSON of ReleaseRecord['sources']; null for releases from before it was kept. */
  sources: Nullable(Type.String()),
  content_hash: Nullable(Type.String()),
  /** JSON of the developer's ReleaseSignature; null when pushed unsigned. */
  signature: Nullable(Type.String()),
  approval: ApprovalStateSchema,
  /** JSON array of the reasons it was marked for review. */
  review_reasons: Type.String(),
  decided_by: Nullable(Type.String()),
  decided_at: Nullable(Type.String()),
  decision_note: Nullable(Type.String()),
  /** JSON array of platform names, once verification read them. */
  platforms: Nullable(Type.String()),
});
type ReleaseRow = typeof ReleaseRow.static;
// Only the columns releaseOf reads: `seq` stays inside the store.
const RELEASE_COLUMNS =
  'id, fleet, version, status, compose, spec, images, notes, created_at, pushed_by, verified_at, failure, ' +
  'sources, content_hash, signature, approval, review_reasons, decided_by, decided_at, decision_note, platforms';
/** What devices may run besides being ready: approved, or never needing it. */
const MAY_RUN = "approval IN ('not-required', 'approved')";

/** What a release's `spec` column holds: the normalised compose file. */
interface ReleaseSpec {
  services: ServiceSpec[];
  volumes: string[];
  networks: string[];
  networkDefinitions?: Record<string, NetworkDefinition>;
  volumeDefinitions?: Record<string, VolumeDefinition>;
}

function releaseOf(row: ReleaseRow): ReleaseRecord {
  const spec = JSON.parse(row.spec) as ReleaseSpec;
  return {
    id: row.id,
    fleet: row.fleet,
    version: row.version,
    status: row.status,
    compose: row.compose,
    services: spec.services,
    volumes: spec.volumes,
    networks: spec.networks,
    ...(spec.networkDefinitions === undefined ? {} : { networkDefinitions: spec.networkDefinitions }),
    ...(spec.volumeDefinitions === undefined ? {} : { volumeDefinitions: spec.volumeDefinitions }),
    images: JSON.parse(row.images) as Record<string, string>,
    notes: row.notes,
    createdAt: row.created_at,
    pushedBy: row.pushed_by,
    verification:
      row.verified_at === null
        ? null
        : {
            checkedAt: row.verified_at,
            failure: row.failure === null ? null : (JSON.parse(row.failure) as ReleaseVerification['failure']),
          },
    sources: row.sources === null ? {} : (JSON.parse(row.sources) as Record<string, string>),
    contentHash: row.content_hash,
    signature: row.signature === null ? null : (JSON.parse(row.signature) as ReleaseSignature),
    review: {
      approval: row.approval,
      reasons: JSON.parse(row.review_reasons) as string[],
      decidedBy: row.decided_by,
      decidedAt: row.decided_at,
      note: row.decision_note,
    },
    platforms: row.platforms === null ? null : (JSON.parse(row.platforms) as string[]),
  };
}

/** "1", "2", ...: one more than the highest whole-number version, ignoring versions people named otherwise. */
function nextVersion(versions: readonly string[]): string {
  const numbers = versions.filter((v) => /^[1-9]\d{0,14}$/.test(v)).map(Number);
  return String(Math.max(0, ...numbers) + 1);
}

const rowOf = (q: Queryable, id: string) =>
  q.get(ReleaseRow, `SELECT ${RELEASE_COLUMNS} FROM releases WHERE id = ?`, [id]);
const rowByVersion = (q: Queryable, fleet: string, version: string) =>
  q.get(ReleaseRow, `SELECT ${RELEASE_COLUMNS} FROM releases WHERE fleet = ? AND version = ?`, [fleet, version]);

async function recordOf(tx: Queryable, id: string): Promise<ReleaseRecord> {
  const row = await rowOf(tx, id);
  if (!row) throw new Error(`release '${id}' vanished inside its own transaction`);
  return releaseOf(row);
}

export function releasesOn(db: Database, audit: Audit): ReleaseStore {
  return {
    async create(release, stamp) {
      const review = release.review ?? { approval: 'not-required', reasons: [] };
      return db.transaction(async (tx) => {
        const seq =
          (
            await tx.get(
              Type.Object({ next: Type.Integer() }),
              'SELECT COALESCE(MAX(seq), 0) + 1 AS next FROM releases WHERE fleet = ?',
              [release.fleet],
            )
          )?.next ?? 1;
        const version =
          release.version ??
          nextVersion(
            (
              await tx.all(Type.Object({ version: Type.String() }), 'SELECT version FROM releases WHERE fleet = ?', [
                release.fleet,
              ])
            ).map((r) => r.version),
          );
        if (await rowByVersion(tx, release.fleet, version)) {
          throw new ConflictError(`fleet '${release.fleet}' already has a release with version '${version}'`);
        }
        const id = randomUUID();
        await tx.run(
          `INSERT INTO releases (id, fleet, seq, version, status, compose, spec, images, notes, created_at,
          pushed_by, sources, content_hash, signature, approval, review_reasons) VALUES (@id, @fleet, @seq, @version,
          @status, @compose, @spec, @images, @notes, @createdAt, @pushedBy, @sources, @contentHash, @signature,
          @approval, @reviewReasons)`,
          {
            id,
            fleet: release.fleet,
            seq,
            version,
            status: release.status,
            compose: release.compose,
            spec: JSON.stringify({
              services: release.services,
              volumes: release.volumes,
              networks: release.networks,
              networkDefinitions: release.networkDefinitions,
              volumeDefinitions: release.volumeDefinitions,
            } satisfies ReleaseSpec),
            images: JSON.stringify(release.images),
            notes: release.notes,
            createdAt: release.createdAt,
            pushedBy: stamp.actor,
            sources: JSON.stringify(release.sources ?? {}),
            contentHash: release.contentHash ?? null,
            signature: release.signature === undefined ? null : JSON.stringify(release.signature),
            approval: review.approval,
            reviewReasons: JSON.stringify(review.reasons),
          },
        );
        await audit.record(tx, stamp, {
          action: 'release.create',
          target: `release:${id}`,
          fleet: release.fleet,
          detail: {
            version,
            status: release.status,
            images: release.images,
            signedBy: release.signature?.keyId ?? null,
            ...(review.reasons.length === 0 ? {} : { reviewReasons: review.reasons }),
            ...(review.approval === 'pending' ? { approval: 'pending' } : {}),
          },
        });
        return recordOf(tx, id);
      });
    },
    async get(id) {
      const row = await rowOf(db, id);
      return row ? releaseOf(row) : null;
    },
    async find(fleet, idOrVersion) {
      const row =
        (await db.get(ReleaseRow, `SELECT ${RELEASE_COLUMNS} FROM releases WHERE fleet = ? AND id = ?`, [
          fleet,
          idOrVersion,
        ])) ?? (await rowByVersion(db, fleet, idOrVersion));
      if (row) return releaseOf(row);
      // Release ids are uuids: a prefix is lower-case hex and hyphens (so safe in LIKE), long enough to mean one.
      const prefix = idOrVersion.trim().toLowerCase();
      if (!/^[0-9a-f-]{4,35}$/.test(prefix)) return null;
      const fits = await db.all(
        ReleaseRow,
        `SELECT ${RELEASE_COLUMNS} FROM releases WHERE fleet = ? AND id LIKE ? || '%' ORDER BY seq DESC LIMIT 6`,
        [fleet, prefix],
      );
      if (fits.length > 1) {
        throw new ConflictError(
          `'${prefix}' is the start of the id of ${fits.length > 5 ? 'more than 5' : fits.length} releases of fleet '${fleet}' (versions ${fits
            .slice(0, 5)
            .map((r) => r.version)
            .join(', ')}); type more of the id, or the version`,
        );
      }
      return fits[0] ? releaseOf(fits[0]) : null;
    },
    async latestReady(fleet) {
      const row = await db.get(
        ReleaseRow,
        `SELECT ${RELEASE_COLUMNS} FROM releases WHERE fleet = ? AND status = 'ready' AND ${MAY_RUN}
        ORDER BY seq DESC LIMIT 1`,
        [fleet],
      );
      return row ? releaseOf(row) : null;
    },
    async latest(fleet) {
      const row = await db.get(
        ReleaseRow,
        `SELECT ${RELEASE_COLUMNS} FROM releases WHERE fleet = ? ORDER BY seq DESC LIMIT 1`,
        [fleet],
      );
      return row ? releaseOf(row) : null;
    },
    async latestReadyFor(fleet, platform) {
      // platforms is a JSON array of names made of [a-z0-9/]: the quoted name cannot match inside another one.
      const row = await db.get(
        ReleaseRow,
        `SELECT ${RELEASE_COLUMNS} FROM releases WHERE fleet = ? AND status = 'ready' AND ${MAY_RUN}
        AND (platforms IS NULL OR platforms LIKE ?) ORDER BY seq DESC LIMIT 1`,
        [fleet, `%${JSON.stringify(platform)}%`],
      );
      return row ? releaseOf(row) : null;
    },
    async list(fleet) {
      return (
        await db.all(ReleaseRow, `SELECT ${RELEASE_COLUMNS} FROM releases WHERE fleet = ? ORDER BY seq DESC`, [fleet])
      ).map(releaseOf);
    },
    async settle(id, verification, stamp, platforms = null) {
      return db.transaction(async (tx) => {
        const before = await rowOf(tx, id);
        if (!before) return null;
        if (before.status !== 'pending') return releaseOf(before);
        const status: ReleaseStatus = verification.failure === null ? 'ready' : 'failed';
        await tx.run(
          `UPDATE releases SET status = @status, verified_at = @verifiedAt, failure = @failure,
          platforms = @platforms WHERE id = @id AND status = 'pending'`,
          {
            id,
            status,
            platforms: platforms === null ? null : JSON.stringify(platforms),
            verifiedAt: verification.checkedAt,
            failure: verification.failure === null ? null : JSON.stringify(verification.failure),
          },
        );
        // A fleet tracking its latest release moves with this: the entry says so in the fleet's history.
        await audit.record(tx, stamp, {
          action: status === 'ready' ? 'release.ready' : 'release.failed',
          target: `release:${id}`,
          fleet: before.fleet,
          detail: {
            version: before.version,
            ...(verification.failure === null ? {} : { failure: verification.failure }),
            ...(platforms === null ? {} : { platforms }),
          },
        });
        return recordOf(tx, id);
      });
    },
    async pending() {
      return (
        await db.all(
          ReleaseRow,
          `SELECT ${RELEASE_COLUMNS} FROM releases WHERE status = 'pending' ORDER BY created_at, seq`,
        )
      ).map(releaseOf);
    },
    async decide(fleet, id, decision, note, stamp) {
      return db.transaction(async (tx) => {
        const before = await rowOf(tx, id);
        if (!before || before.fleet !== fleet) return null;
        if (before.approval !== 'pending') {
          throw new ConflictError(
            before.approval === 'not-required'
              ? `release ${before.version} of fleet '${fleet}' does not wait for approval: devices may run it once ready`
              : `release ${before.version} of fleet '${fleet}' was ${before.approval} already, by ${before.decided_by ?? 'unknown'} at ${before.decided_at ?? 'an unknown time'}`,
          );
        }
        await tx.run(
          `UPDATE releases SET approval = @decision, decided_by = @actor, decided_at = @at, decision_note = @note
          WHERE id = @id AND approval = 'pending'`,
          { id, decision, actor: stamp.actor, at: stamp.at, note },
        );
        // A fleet tracking its latest release moves with an approval: the entry (and its fleet bump) says so.
        await audit.record(tx, stamp, {
          action: decision === 'approved' ? 'release.approve' : 'release.reject',
          target: `release:${id}`,
          fleet,
          detail: {
            version: before.version,
            reasons: JSON.parse(before.review_reasons) as string[],
            ...(note === null ? {} : { note }),
          },
        });
        return recordOf(tx, id);
      });
    },
    async countByStatus() {
      const counts: Record<ReleaseStatus, number> = { pending: 0, ready: 0, failed: 0 };
      const rows = await db.all(
        Type.Object({ status: ReleaseStatusSchema, count: Type.Integer() }),
        'SELECT status, COUNT(*) AS count FROM releases GROUP BY status',
      );
      for (const row of rows) counts[row.status] = row.count;
      return counts;
    },
  };
}
