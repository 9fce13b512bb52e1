import { test } from 'node:test';
import assert from 'node:assert/strict';

import { createCommands } from '../src/loader/commands.js';

function fakeHost() {
  const calls = [];
  const host = {};
  for (const name of ['boot', 'open', 'close', 'toggle', 'identify', 'update', 'reset', 'mountPanel']) {
    host[name] = (...args) => calls.push([name, ...args]);
  }
  return { host, calls };
}

test('the snippet queue replays in order, with commands before boot waiting for it', () => {
  const { host, calls } = fakeHost();
  const errors = [];
  const { chatd } = createCommands(host, (err) => errors.push(err));
  // What the snippet's stub would have queued before the loader arrived:
  const queue = [
    ['identify', { token: 'v1.p.s' }],
    ['open'],
    ['update', { attributes: { plan: 'pro' } }],
    ['boot', { site: 'demo', locale: 'zh-CN' }],
    ['toggle'],
  ];
  for (const args of queue) chatd(...args);
  assert.deepEqual(calls, [
    ['identify', 'v1.p.s'],
    ['update', { plan: 'pro' }],
    ['boot', { site: 'demo', locale: 'zh-CN' }],
    ['open'],
    ['toggle'],
  ]);
  assert.deepEqual(errors, []);
});

test('boot needs a site key and happens once', () => {
  const { host, calls } = fakeHost();
  const errors = [];
  const { chatd } = createCommands(host, (err) => errors.push(err));
  chatd('boot', {});
  assert.equal(calls.length, 0);
  assert.equal(errors.length, 1);
  chatd('boot', { site: 'demo' });
  chatd('boot', { site: 'other' });
  assert.deepEqual(calls, [['boot', { site: 'demo' }]]);
});

test('on/off and emit; a throwing listener does not break the others', () => {
  const { host } = fakeHost();
  const errors = [];
  const { chatd, emit } = createCommands(host, (err) => errors.push(err));
  const got = [];
  const listener = (n) => got.push(['a', n]);
  chatd('on', 'unread', () => {
    throw new Error('host bug');
  });
  chatd('on', 'unread', listener);
  emit('unread', 2);
  chatd('off', 'unread', listener);
  emit('unread', 3);
  assert.deepEqual(got, [['a', 2]]);
  assert.equal(errors.length, 2);
  chatd('on', 'nope', () => {});
  assert.equal(errors.length, 3);
});

test('a ready listener added after ready is called at once', () => {
  const { host } = fakeHost();
  const { chatd, emit } = createCommands(host);
  emit('ready');
  let called = 0;
  chatd('on', 'ready', () => called++);
  assert.equal(called, 1);
});

test('the panel registers through _panel; unknown commands are reported', () => {
  const { host, calls } = fakeHost();
  const errors = [];
  const { chatd } = createCommands(host, (err) => errors.push(err));
  const mount = () => ({});
  chatd('_panel', mount);
  chatd('explode');
  assert.deepEqual(calls, [['mountPanel', mount]]);
  assert.equal(errors.length, 1);
});

test('identify accepts {token} or a bare token; reset waits for boot', () => {
  const { host, calls } = fakeHost();
  const { chatd } = createCommands(host);
  chatd('identify', 'bare');
  chatd('reset');
  assert.deepEqual(calls, [['identify', 'bare']]);
  chatd('boot', { site: 's' });
  assert.deepEqual(calls.slice(1), [['boot', { site: 's' }], ['reset']]);
});
