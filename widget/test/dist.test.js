// Tests of the build output: size budgets of the embeddable bundles (gzipped),
// the client ESM and the @chatd/client package. Builds first if anything is
// missing (`npm test` also builds through `pretest`). All build-dependent tests
// live in this one file so that no two test processes build at the same time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

import { CORE, TRANSPORTS } from './exported-names.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const BUDGETS = { 'loader.js': 5 * 1024, 'panel.js': 35 * 1024 };

const OUTPUTS = ['dist/loader.js', 'dist/panel.js', 'dist/client.js', 'packages/client/dist/index.js', 'packages/client/dist/index.mjs'];
if (!OUTPUTS.every((path) => existsSync(join(root, path)))) {
  execFileSync(process.execPath, [join(root, 'build.mjs')], { cwd: root, stdio: 'inherit' });
}

for (const [name, budget] of Object.entries(BUDGETS)) {
  test(`dist/${name} is at most ${budget / 1024} KB gzipped`, (t) => {
    const source = readFileSync(join(root, 'dist', name));
    const gzipped = gzipSync(source, { level: 9 }).length;
    t.diagnostic(`${name}: ${source.length} bytes, ${gzipped} gzipped (budget ${budget})`);
    assert.ok(gzipped <= budget, `${name} is ${gzipped} bytes gzipped, over its ${budget} byte budget`);
  });
}

test('the bundles hold no innerHTML and no eval', () => {
  for (const name of Object.keys(BUDGETS)) {
    const source = readFileSync(join(root, 'dist', name), 'utf8');
    assert.ok(!/\.innerHTML\s*=|insertAdjacentHTML|outerHTML\s*=|\beval\(|new Function\(/.test(source), name);
  }
});

test('dist/client.js is an ES module exposing the client core and transports', async () => {
  const client = await import(join(root, 'dist', 'client.js'));
  for (const name of ['createClient', 'reduce', 'backoff', 'wxTransport', 'uniTransport', 'browserTransport', 'wxStorage']) {
    assert.equal(typeof client[name], 'function', name);
  }
});

test('@chatd/client package: CommonJS main and ESM export the same names', async () => {
  const pkg = JSON.parse(readFileSync(join(root, 'packages', 'client', 'package.json'), 'utf8'));
  assert.equal(pkg.name, '@chatd/client');
  const dir = join(root, 'packages', 'client');
  const cjs = createRequire(join(dir, 'package.json'))(join(dir, pkg.main));
  const esm = await import(join(dir, pkg.module));
  const expected = CORE.concat(TRANSPORTS).sort();
  assert.deepEqual(Object.keys(cjs).sort(), expected);
  assert.deepEqual(Object.keys(esm).sort(), expected);
});
