// Pins the public names of the client core (src/core/index.js, which
// @chatd/client publishes with the transports): changing them is a breaking change.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import * as core from '../src/core/index.js';
import * as entry from '../src/client.js';
import { CORE, TRANSPORTS } from './exported-names.js';


test('core exports', () => {
  assert.deepEqual(Object.keys(core).sort(), CORE.slice().sort());
});

test('client entry = core + transports', () => {
  assert.deepEqual(Object.keys(entry).sort(), CORE.concat(TRANSPORTS).sort());
});

test('the TypeScript declarations declare every exported name, and no other value', async () => {
  const { readFile } = await import('node:fs/promises');
  const dts = await readFile(new URL('../packages/client/index.d.ts', import.meta.url), 'utf8');
  const declared = [...dts.matchAll(/^export declare (?:function|const|class) (\w+)/gm)].map((m) => m[1]);
  assert.deepEqual([...new Set(declared)].sort(), CORE.concat(TRANSPORTS).sort());
});
