/**
 * Vite config of the admin UI. `npm run build` runs it through scripts/build-ui.mjs; for work on
 * the UI itself, `npx vite --config ui/vite.config.ts` serves it with the admin API proxied to a
 * Gatehouse on :8080 (`npm start`).
 */
import { defineConfig } from 'vite';

export default defineConfig({
  root: import.meta.dirname,
  base: '/admin/',
  publicDir: false,
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: '../dist/admin-ui',
    emptyOutDir: true,
    assetsDir: 'assets',
    target: 'es2022',
    sourcemap: false,
    // No inline helper script: the CSP allows scripts from Gatehouse's own files only.
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    reportCompressedSize: false,
  },
  server: {
    proxy: {
      '/api': 'http://127.0.0.1:8080',
      '/oauth': 'http://127.0.0.1:8080',
    },
  },
});
