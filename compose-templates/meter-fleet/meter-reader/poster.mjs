// @ts-check
// Delivers a batch of readings to the fleet's endpoint: POST {"readings": [...]} as JSON. The answer decides
// what happens to the batch: sent, retry later (endpoint down, overloaded, misconfigured auth: the readings are
// still good), or rejected (the endpoint says this payload itself is wrong: retrying cannot help).
import { messageOf } from './log.mjs';

/** @typedef {{ kind: 'sent' } | { kind: 'retry', reason: string } | { kind: 'rejected', reason: string }} PostResult */
/** @typedef {(records: unknown[], signal: AbortSignal) => Promise<PostResult>} Post */

/** Statuses that condemn the payload rather than the moment. */
const PAYLOAD_REJECTED = new Set([400, 413, 422]);

/**
 * @param {{ url: string, token: string | null, timeoutMs: number }} endpoint
 * @returns {Post}
 */
export function createPoster(endpoint) {
  /** @type {Record<string, string>} */
  const headers = { 'content-type': 'application/json' };
  if (endpoint.token !== null) headers.authorization = `Bearer ${endpoint.token}`;
  return async (records, signal) => {
    let response;
    try {
      response = await fetch(endpoint.url, {
        method: 'POST',
        headers,
        body: JSON.stringify({ readings: records }),
        signal: AbortSignal.any([signal, AbortSignal.timeout(endpoint.timeoutMs)]),
      });
      // Read the body to the end so the connection goes back to the pool.
      await response.arrayBuffer();
    } catch (err) {
      return { kind: 'retry', reason: messageOf(err) };
    }
    if (response.ok) return { kind: 'sent' };
    const reason = `HTTP ${response.status} ${response.statusText}`.trim();
    return PAYLOAD_REJECTED.has(response.status) ? { kind: 'rejected', reason } : { kind: 'retry', reason };
  };
}
