// Builds dist/ (loader, panel, client ESM) and packages/client/dist/ (ESM + CommonJS).
// Usage: node build.mjs
import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import { copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import zlib, { brotliCompressSync, gzipSync } from 'node:zlib';

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
  build({ ...common, entryPoints: ['src/panel/index.js'], outfile: 'dist/panel.js', format: 'iife', minify: true }),
  // Readable ES module of the core and transports, for apps that bundle it themselves.
  build({ ...common, entryPoints: ['src/client.js'], outfile: 'dist/client.js', format: 'esm' }),
  build({ ...common, entryPoints: ['src/client.js'], outfile: 'packages/client/dist/index.mjs', format: 'esm' }),
  // CommonJS for the WeChat developer tools' "build npm", which follows `main`.
  build({ ...common, entryPoints: ['src/client.js'], outfile: 'packages/client/dist/index.js', format: 'cjs' }),
]);
// The loader asks for panel.js?v=<its content hash>, so the server may let
// browsers and CDNs keep that URL for a year (chatd/static.py).
const panelVersion = createHash('sha256').update(await readFile(join(dist, 'panel.js'))).digest('hex').slice(0, 10);
await build({
  ...common, entryPoints: ['src/loader.js'], outfile: 'dist/loader.js', format: 'iife', minify: true,
  define: { __PANEL_VERSION__: JSON.stringify(panelVersion) },
});
// Brotli and gzip copies beside each bundle, served to clients that accept them.
for (const name of ['loader.js', 'panel.js', 'client.js']) {
  const source = await readFile(join(dist, name));
  await writeFile(join(dist, `${name}.br`), brotliCompressSync(source, {
    params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 11, [zlib.constants.BROTLI_PARAM_SIZE_HINT]: source.length },
  }));
  await writeFile(join(dist, `${name}.gz`), gzipSync(source, { level: 9 }));
}
// The package ships the repository's one licence.
await copyFile(join(here, '..', 'LICENSE'), join(here, 'packages', 'client', 'LICENSE'));
