// The freshness of each device's signed target (protocol/signature.ts): the last version issued to it, the hash of
// the content it was issued for, and its validity. A target is issued anew only when its content changed or more
// than half of its validity passed; otherwise the same issue (and so the same signed bytes and ETag) is served.
// The decision reads and writes in one write transaction, so two API instances computing the same device's
// target at once agree on one version and never hand out the same number for two contents.
import { Type } from '@sinclair/typebox';
import type { TargetIssueStore, TargetIssueRecord } from './index.js';
import type { Database, Queryable } from './sql/database.js';

const IssueRow = Type.Object({
  version: Type.Integer(),
  content_hash: Type.String(),
  issued_at: Type.String(),
  expires_at: Type.String(),
});

function recordOf(row: {
  version: number;
  content_hash: string;
  issued_at: string;
  expires_at: string;
}): TargetIssueRecord {
  return { version: row.version, contentHash: row.content_hash, issuedAt: row.issued_at, expiresAt: row.expires_at };
}

/** Whether `issue` still serves `contentHash` at `nowMs`: same content, and less than half its validity gone. */
export function stillServes(issue: TargetIssueRecord, contentHash: string, nowMs: number): boolean {
  return issue.contentHash === contentHash && nowMs < renewAtMs(issue);
}

/** When `issue` is re-issued even with unchanged content: half-way through its validity. */
export function renewAtMs(issue: Pick<TargetIssueRecord, 'issuedAt' | 'expiresAt'>): number {
  const issuedAt = Date.parse(issue.issuedAt);
  return issuedAt + (Date.parse(issue.expiresAt) - issuedAt) / 2;
}

const SELECT = 'SELECT version, content_hash, issued_at, expires_at FROM target_issues WHERE uuid = ?';

async function current(q: Queryable, uuid: string): Promise<TargetIssueRecord | null> {
  const row = await q.get(IssueRow, SELECT, [uuid]);
  return row === null ? null : recordOf(row);
}

export function targetIssuesOn(db: Database): TargetIssueStore {
  return {
    current: (uuid) => current(db, uuid),
    async issue(uuid, contentHash, now, validityMs) {
      const nowMs = now.getTime();
      // Nearly always the kept issue still serves: one read, no write transaction.
      const kept = await current(db, uuid);
      if (kept !== null && stillServes(kept, contentHash, nowMs)) return kept;
      return db.transaction(async (tx) => {
        const last = await current(tx, uuid);
        if (last !== null && stillServes(last, contentHash, nowMs)) return last;
        const next: TargetIssueRecord = {
          version: (last?.version ?? 0) + 1,
          contentHash,
          // Never before the last issue: versions and issue times go up together even if this clock is behind.
          issuedAt: new Date(Math.max(nowMs, last === null ? 0 : Date.parse(last.issuedAt))).toISOString(),
          expiresAt: '',
        };
        next.expiresAt = new Date(Date.parse(next.issuedAt) + validityMs).toISOString();
        const params = [uuid, next.version, next.contentHash, next.issuedAt, next.expiresAt];
        if (last === null) {
          await tx.run(
            'INSERT INTO target_issues (uuid, version, content_hash, issued_at, expires_at) VALUES (?, ?, ?, ?, ?)',
            params,
          );
        } else {
          await tx.run(
            'UPDATE target_issues SET version = ?, content_hash = ?, issued_at = ?, expires_at = ? WHERE uuid = ?',
            [next.version, next.contentHash, next.issuedAt, next.expiresAt, uuid],
          );
        }
        return next;
      });
    },
  };
}
