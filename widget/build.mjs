// Builds dist/ (loader, panel, client ESM) and packages/client/dist/ (ESM + CommonJS).
// Usage: node build.mjs
import { build } from 'esbuild';
import { mkdir, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, 'dist');
const packageDist = join(here, 'packages', 'client', 'dist');

const common = {
  bundle: true,
  target: 'es2019', // old in-app web views and mini-program runtimes
  legalComments: 'none',
  logLevel: 'warning',
  absWorkingDir: here,
};

await rm(dist, { recursive: true, force: true });
await rm(packageDist, { recursive: true, force: true });
await mkdir(dist, { recursive: true });

await Promise.all([
  build({ ...common, entryPoints: ['src/loader.js'], outfile: 'dist/loader.js', format: 'iife', minify: true }),
  build({ ...common, entryPoints: ['src/panel/index.js'], outfile: 'dist/panel.js', format: 'iife', minify: true }),
  // Readable ES module of the core and transports, for apps that bundle it themselves.
  build({ ...common, entryPoints: ['src/client.js'], outfile: 'dist/client.js', format: 'esm' }),
  build({ ...common, entryPoints: ['src/client.js'], outfile: 'packages/client/dist/index.mjs', format: 'esm' }),
  // CommonJS for the WeChat developer tools' "build npm", which follows `main`.
  build({ ...common, entryPoints: ['src/client.js'], outfile: 'packages/client/dist/index.js', format: 'cjs' }),
]);
