/**
 * The browser app: Debian's janus.js at /vendor/janus.js (when installed), @simplewebauthn/browser at
 * /vendor/simplewebauthn-browser.js, MediaPipe's selfie segmentation (background blur) at
 * /vendor/mediapipe/selfie_segmentation/, the patient page at `/join` (the patient's link is /join#<token>) and at
 * `/messages` (secure messages, /messages#<token>), the built
 * app's files (web/dist, built by `npm run build`), and a plain 404 for anything else.
 */
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import express from 'express';
import type { Express } from 'express';

/** @simplewebauthn/browser's bundle (sets `window.SimpleWebAuthnBrowser`), served from here: no CDN. */
const WEBAUTHN_BROWSER_JS = resolve(
  dirname(require.resolve('@simplewebauthn/browser')),
  '..',
  'dist',
  'bundle',
  'index.umd.min.js',
);

/** @mediapipe/selfie_segmentation's folder: the background blur's loader, wasm and model (ADR 0018). */
const SEGMENTATION_DIR = dirname(require.resolve('@mediapipe/selfie_segmentation/package.json'));

/** The files of that package the browser loads, and nothing else from it (no README, no package.json). */
const SEGMENTATION_FILES: ReadonlySet<string> = new Set([
  'selfie_segmentation.js',
  'selfie_segmentation.binarypb',
  'selfie_segmentation.tflite',
  'selfie_segmentation_landscape.tflite',
  'selfie_segmentation_solution_simd_wasm_bin.js',
  'selfie_segmentation_solution_simd_wasm_bin.wasm',
  'selfie_segmentation_solution_simd_wasm_bin.data',
  'selfie_segmentation_solution_wasm_bin.js',
  'selfie_segmentation_solution_wasm_bin.wasm',
]);

/** Options of {@link registerWebRoutes}. */
export interface WebOptions {
  /** Directory of the browser app's static files. */
  readonly webRoot: string;
  /** Debian's janus.js, served at /vendor/janus.js when the file exists. */
  readonly janusJsPath?: string | undefined;
}

/** Registers the web app's routes on the app; goes after /api. */
export function registerWebRoutes(app: Express, options: WebOptions): void {
  const janusJs = options.janusJsPath;
  if (janusJs !== undefined && existsSync(janusJs)) {
    app.get('/vendor/janus.js', (_req, res) => {
      res.type('text/javascript').sendFile(janusJs, { maxAge: 0 });
    });
  }
  app.get('/vendor/simplewebauthn-browser.js', (_req, res) => {
    res.type('text/javascript').sendFile(WEBAUTHN_BROWSER_JS, { maxAge: 0 });
  });
  // Served from the installed package, never from a CDN: the visit works without the internet.
  app.get('/vendor/mediapipe/selfie_segmentation/:file', (req, res, next) => {
    const file = req.params.file;
    if (!SEGMENTATION_FILES.has(file)) {
      next();
      return;
    }
    res.sendFile(resolve(SEGMENTATION_DIR, file), { maxAge: 0 });
  });
  app.get(['/join', '/messages'], (_req, res) => {
    res.sendFile(resolve(options.webRoot, 'join.html'), { maxAge: 0 });
  });
  app.use(express.static(options.webRoot, { index: 'index.html', dotfiles: 'ignore', maxAge: 0 }));
  app.use((_req, res) => {
    res.status(404).type('text/plain').send('Not found');
  });
}
