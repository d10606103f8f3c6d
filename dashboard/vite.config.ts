// The dashboard's bundle: `npm run build` runs `vite build --config dashboard/vite.config.ts` after the TypeScript
// projects, into dist/dashboard, which registry-api serves (registry-api/web/static.ts). Everything is bundled: at
// run time the page loads nothing from any other host.
import { fileURLToPath } from 'node:url';
import preact from '@preact/preset-vite';
import { defineConfig } from 'vite';

const here = fileURLToPath(new URL('.', import.meta.url));

// Vite says it left node:crypto and node:path/posix out of the bundle: protocol/ modules the route declarations
// import keep Node-only helpers (signatures, file paths) beside their schemas. The page never calls them.
export default defineConfig({
  root: here,
  base: '/',
  plugins: [preact()],
  logLevel: 'warn',
  build: {
    outDir: fileURLToPath(new URL('../dist/dashboard', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
    // No inline script or style may appear in the page: the API's Content-Security-Policy forbids them.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    reportCompressedSize: false,
  },
});
