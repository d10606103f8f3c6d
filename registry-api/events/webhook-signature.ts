// The webhook signature (protocol/webhooks.ts): HMAC-SHA256 with the webhook's secret over "<t>.<body>", sent as
// `Skiff-Signature: t=<unix seconds>,v1=<hex>`. verifyWebhookSignature is what a receiver does, for tests and as
// the reference for people writing one.
import { createHmac, timingSafeEqual } from 'node:crypto';

export function webhookSignature(secret: string, timestampSeconds: number, body: string): string {
  const mac = createHmac('sha256', secret).update(`${timestampSeconds}.${body}`).digest('hex');
  return `t=${timestampSeconds},v1=${mac}`;
}

/** Null when the header signs `body` with `secret` within `toleranceSeconds` of `nowSeconds`; else why not. */
export function verifyWebhookSignature(
  secret: string,
  header: string,
  body: string,
  nowSeconds: number,
  toleranceSeconds = 300,
): string | null {
  const parts = new Map(
    header.split(',').map((part) => {
      const eq = part.indexOf('=');
      return [part.slice(0, eq).trim(), part.slice(eq + 1).trim()] as const;
    }),
  );
  const t = Number(parts.get('t'));
  const v1 = parts.get('v1');
  if (!Number.isInteger(t) || v1 === undefined) return `the signature header '${header.slice(0, 100)}' lacks t= or v1=`;
  if (Math.abs(nowSeconds - t) > toleranceSeconds)
    return `the signature's time ${t} is more than ${toleranceSeconds} s from now`;
  const expected = Buffer.from(createHmac('sha256', secret).update(`${t}.${body}`).digest('hex'));
  const given = Buffer.from(v1);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return 'the signature does not match';
  return null;
}
