// The dashboard's files (built by `npm run build` into dist/dashboard), served by the API itself on every path
// outside the API's own: one origin, so the session cookie is SameSite=Strict and the page needs no CORS. Read once
// at start into memory (a few hundred KiB): only files that were there are ever served, so no request path reaches
// the file system. Vite names assets by content hash, so they are cached for a year; the page itself is revalidated
// every time (ETag) so a new build is seen at once. The Content-Security-Policy allows this origin only: no inline
// script, no third-party host, no framing.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Middleware } from 'koa';
import type { Logger } from '../../lib/logger.js';
import { isDashboardPath } from '../../protocol/dashboard.js';
import { routeList } from '../../protocol/http/routes.js';
import { isFresh } from '../http/etag.js';
import { notFound } from '../http/problem.js';

/** Where `npm run build` puts the dashboard, next to the compiled API. */
export const DEFAULT_DASHBOARD_DIR = fileURLToPath(new URL('../../dashboard/', import.meta.url));

export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.webmanifest': 'application/manifest+json',
  '.txt': 'text/plain; charset=utf-8',
};
/** Larger files are no part of a dashboard build: never held in memory. */
const MAX_FILE_BYTES = 4 * 1024 * 1024;

interface StaticFile {
  body: Buffer;
  type: string;
  etag: string;
  immutable: boolean;
}

function readTree(root: string): Map<string, StaticFile> {
  const files = new Map<string, StaticFile>();
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.isFile() && statSync(full).size <= MAX_FILE_BYTES) {
        const type = TYPES[path.extname(entry.name)];
        if (type === undefined) continue;
        const urlPath = `/${path.relative(root, full).split(path.sep).join('/')}`;
        const body = readFileSync(full);
        files.set(urlPath, {
          body,
          type,
          etag: `"${createHash('sha256').update(body).digest('hex').slice(0, 32)}"`,
          immutable: urlPath.startsWith('/assets/'),
        });
      }
    }
  };
  walk(root);
  return files;
}

/** The first path segment of every API route that is not under /v1 (e.g. /metrics): never the dashboard's. */
function apiPrefixes(): string[] {
  return [...new Set(routeList().map((route) => `/${route.path.split('/')[1] ?? ''}`))];
}

export function dashboard(options: { dir?: string; logger: Logger }): Middleware {
  const dir = options.dir ?? DEFAULT_DASHBOARD_DIR;
  let files = new Map<string, StaticFile>();
  try {
    files = readTree(dir);
  } catch (err) {
    options.logger.warn({ err, dir }, 'no dashboard: its build is not there (npm run build)');
  }
  const page = files.get('/index.html');
  const prefixes = apiPrefixes();
  const isApiPath = (p: string) => prefixes.some((prefix) => p === prefix || p.startsWith(`${prefix}/`));
  return async (ctx, next) => {
    if ((ctx.method !== 'GET' && ctx.method !== 'HEAD') || isApiPath(ctx.path)) return next();
    // A file of the build, or a page of the app (which routes it itself): nothing else is answered here.
    const file = files.get(ctx.path) ?? (isDashboardPath(ctx.path) ? page : undefined);
    if (file === undefined) {
      if (page === undefined && ctx.path === '/')
        throw notFound(`the dashboard is not built (no index.html in ${dir}): run npm run build`);
      return next();
    }
    ctx.set('Content-Security-Policy', CONTENT_SECURITY_POLICY);
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.set('Referrer-Policy', 'no-referrer');
    ctx.set('X-Frame-Options', 'DENY');
    ctx.set('Cross-Origin-Opener-Policy', 'same-origin');
    ctx.set('Cache-Control', file.immutable ? 'public, max-age=31536000, immutable' : 'no-cache');
    ctx.set('ETag', file.etag);
    if (isFresh(ctx.get('If-None-Match'), file.etag)) {
      ctx.status = 304;
      return;
    }
    ctx.type = file.type;
    ctx.body = file.body;
  };
}
