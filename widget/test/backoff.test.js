import { test } from 'node:test';
import assert from 'node:assert/strict';

import { backoff, drainDelay, DEFAULT_BACKOFF } from '../src/core/backoff.js';
import { seededRandom } from './fakes.js';

test('full jitter stays within [0, min(cap, base * 2^attempt)) over many attempts', () => {
  const random = seededRandom(7);
  const base = 500;
  const cap = 30000;
  for (let attempt = 0; attempt < 60; attempt++) {
    const window = Math.min(cap, base * 2 ** attempt);
    let low = Infinity;
    let high = -Infinity;
    for (let i = 0; i < 2000; i++) {
      const d = backoff(attempt, { base, cap, random });
      assert.ok(Number.isInteger(d), `integer delay, got ${d}`);
      assert.ok(d >= 0 && d < window, `attempt ${attempt}: ${d} outside [0, ${window})`);
      low = Math.min(low, d);
      high = Math.max(high, d);
    }
    // Full jitter: the delays really cover the window, not a narrow band.
    assert.ok(low < window * 0.02, `attempt ${attempt}: lowest ${low} of ${window}`);
    assert.ok(high > window * 0.98, `attempt ${attempt}: highest ${high} of ${window}`);
  }
});

test('the jitter is roughly uniform (mean near half the window)', () => {
  const random = seededRandom(11);
  const samples = Array.from({ length: 20000 }, () => backoff(10, { base: 500, cap: 30000, random }));
  const mean = samples.reduce((a, b) => a + b, 0) / samples.length;
  assert.ok(Math.abs(mean - 15000) < 400, `mean ${mean}`);
});

test('bounds at the extremes of random()', () => {
  assert.equal(backoff(3, { base: 100, cap: 10000, random: () => 0 }), 0);
  assert.equal(backoff(3, { base: 100, cap: 10000, random: () => 0.999999999 }), 799);
  // A broken random source cannot push the delay out of range.
  assert.equal(backoff(3, { base: 100, cap: 10000, random: () => 1 }), 0);
  assert.equal(backoff(3, { base: 100, cap: 10000, random: () => -5 }), 0);
  assert.equal(backoff(3, { base: 100, cap: 10000, random: () => NaN }), 0);
});

test('the cap holds for huge attempts, and bad attempts count as the first', () => {
  for (const attempt of [40, 1000, Number.MAX_SAFE_INTEGER, Infinity]) {
    assert.equal(backoff(attempt, { base: 500, cap: 30000, random: () => 0.5 }), 15000);
  }
  for (const attempt of [-1, NaN, undefined, 0]) {
    assert.equal(backoff(attempt, { base: 500, cap: 30000, random: () => 0.5 }), 250);
  }
  assert.equal(backoff(2.9, { base: 100, cap: 1e6, random: () => 0.5 }), 200);
});

test('defaults: base 500 ms, cap 30 s', () => {
  assert.deepEqual({ ...DEFAULT_BACKOFF }, { base: 500, cap: 30000 });
  for (let i = 0; i < 1000; i++) assert.ok(backoff(20) < 30000);
});

test('backoff is pure: same inputs, same output', () => {
  const a = seededRandom(3);
  const b = seededRandom(3);
  for (let n = 0; n < 20; n++) assert.equal(backoff(n, { random: a }), backoff(n, { random: b }));
});

test('drainDelay is uniform in [0, max)', () => {
  assert.equal(drainDelay(5000, () => 0), 0);
  assert.equal(drainDelay(5000, () => 0.9999), 4999);
  assert.equal(drainDelay(0, () => 0.5), 0);
  const random = seededRandom(5);
  for (let i = 0; i < 1000; i++) {
    const d = drainDelay(3000, random);
    assert.ok(d >= 0 && d < 3000);
  }
});
