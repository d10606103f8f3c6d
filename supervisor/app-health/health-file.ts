// A service's health written by the service itself into its own SKIFF_LOCK_DIR (health.json), for containers that
// cannot reach the loopback local API (a bridge network). Each service sees only its own directory, so a file can
// speak for its service alone. Read bounded: a service is not trusted to write a sane file.
import { open } from 'node:fs/promises';
import path from 'node:path';
import { messageOf } from '../../lib/errors.js';
import { ServiceHealthRequestSchema, type ServiceHealthRequest } from '../../protocol/local-api.js';
import { check } from '../../protocol/validate.js';
import type { ReportedHealth } from './judgement.js';

export const HEALTH_FILE = 'health.json';
/** Far above any honest report ({"value":0.97,"detail":"..."} with a 256-character detail). */
const MAX_FILE_BYTES = 4096;

export type HealthFileRead = { health: ReportedHealth } | { error: string } | null;

/** The service's health file in `dir` (its lock dir on the host); null when it wrote none. */
export async function readHealthFile(dir: string): Promise<HealthFileRead> {
  const file = path.join(dir, HEALTH_FILE);
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(file, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    return { error: `cannot open ${file}: ${messageOf(err)}` };
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) return { error: `${file} is not a regular file` };
    if (stat.size > MAX_FILE_BYTES) return { error: `${file} has ${stat.size} bytes, more than ${MAX_FILE_BYTES}` };
    const buffer = Buffer.alloc(MAX_FILE_BYTES + 1);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    if (bytesRead > MAX_FILE_BYTES) return { error: `${file} grew beyond ${MAX_FILE_BYTES} bytes` };
    let value: unknown;
    try {
      value = JSON.parse(buffer.subarray(0, bytesRead).toString('utf8'));
    } catch {
      return { error: `${file} is not JSON (write e.g. {"value":0.97} or {"pass":true})` };
    }
    const issues = check(ServiceHealthRequestSchema, value);
    if (issues.length > 0) {
      return {
        error: `${file} is not a health report (write {"value":NUMBER} or {"pass":BOOLEAN}, optional "detail" up to 256 characters)`,
      };
    }
    return { health: reportedOf(value as ServiceHealthRequest, stat.mtime) };
  } finally {
    await handle.close();
  }
}

/** A validated health request as the supervisor keeps it. */
export function reportedOf(request: ServiceHealthRequest, at: Date): ReportedHealth {
  return {
    value: 'value' in request ? request.value : null,
    pass: 'pass' in request ? request.pass : null,
    detail: request.detail ?? null,
    reportedAt: at.toISOString(),
  };
}
