// Builds the browser app (web/src, TypeScript + React) into web/dist, which the gateway serves under its strict
// CSP: external module scripts and stylesheets only, nothing inline. Files in web/public are copied as they are.
import { resolve } from 'node:path';
import { defineConfig } from 'vite';

const root = import.meta.dirname;

export default defineConfig({
  root,
  base: '/',
  publicDir: resolve(root, 'public'),
  // Vite 8 transforms TSX itself (oxc): React's automatic runtime, no Babel plugin (the dev server's fast
  // refresh is the only thing @vitejs/plugin-react would add, and the gateway serves the build).
  oxc: { jsx: { runtime: 'automatic' } },
  logLevel: 'warn',
  build: {
    outDir: resolve(root, 'dist'),
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: true,
    // The polyfill would be one more module for browsers that all support modulepreload today.
    modulePreload: { polyfill: false },
    // Everything is a file the CSP's 'self' allows: no data: URLs for scripts or styles.
    assetsInlineLimit: 0,
    // The manifest names each entry's files: the browser suites' test page loads the visit screen through it.
    manifest: true,
    rollupOptions: {
      input: {
        index: resolve(root, 'index.html'),
        join: resolve(root, 'join.html'),
        visit: resolve(root, 'src/visit/mount.tsx'),
      },
    },
  },
});
