import { test, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';

import { createClient } from '../src/core/client.js';
import { uniStorage, uniTransport } from '../src/transport/uni.js';
import { FakeTimers, WELCOME, message } from './fakes.js';
import { fakeMiniProgram } from './miniprogram-fakes.js';

let uni;
beforeEach(() => {
  // Like uni-app: connectSocket returns a SocketTask only when a callback is passed.
  uni = fakeMiniProgram({ requireCallbackForTask: true });
  globalThis.uni = uni;
});
afterEach(() => {
  delete globalThis.uni;
});

function setup() {
  const timers = new FakeTimers();
  const client = createClient({
    url: 'wss://chat.example/ws/visitor?site=app',
    site: 'app',
    transport: uniTransport(),
    storage: uniStorage(),
    timers,
    random: () => 0.5,
  });
  const seen = [];
  client.on('message', (frame) => seen.push(frame.seq));
  return { client, timers, seen };
}

test('uni.connectSocket gets a callback so it returns the SocketTask, and the session runs over it', () => {
  const { client, seen } = setup();
  client.connect();
  const task = uni.lastTask;
  assert.equal(typeof task.options.complete, 'function');
  task.open();
  assert.deepEqual(task.sent[0], { type: 'hello', site: 'app' });
  task.receive({ ...WELCOME, conversations: [{ conversation_id: 'c1', state: 'assigned' }] });
  task.receive(message('c1', 1, 'hi'));
  task.receive(message('c1', 1, 'hi'));
  assert.deepEqual(seen, [1]);
  assert.equal(uni.getStorageSync('chatd:app:token'), JSON.stringify('v1.token'));
});

test('one socket per app', () => {
  const handlers = { open() {}, message() {}, close() {} };
  uniTransport(uni).connect('wss://a', [], handlers);
  uniTransport(uni).connect('wss://b', [], handlers);
  assert.deepEqual(uni.tasks[0].closedWith, { code: 1000, reason: 'replaced' });
  assert.equal(uni.tasks[1].closedWith, null);
});

test('reconnects on app show and on network return, resuming from the last seq', () => {
  const { client } = setup();
  client.connect();
  uni.lastTask.open();
  uni.lastTask.receive({ ...WELCOME, conversations: [{ conversation_id: 'c1', state: 'assigned' }] });
  uni.lastTask.receive(message('c1', 7, 'hi'));
  uni.lastTask.serverClose(1006);
  uni.showApp();
  assert.equal(uni.tasks.length, 2);
  uni.lastTask.open();
  assert.deepEqual(uni.lastTask.sent[0].resume, { c1: 7 });
  uni.lastTask.serverClose(1006);
  uni.networkChange(true);
  assert.equal(uni.tasks.length, 3);
});

test('works without uni.onAppShow (older runtimes)', () => {
  delete uni.onAppShow;
  delete uni.offAppShow;
  const { client } = setup();
  client.connect();
  client.disconnect();
  assert.equal(uni.network.length, 0);
});

test('uniStorage maps to the sync storage API', () => {
  const storage = uniStorage(uni);
  storage.setItem('a', '1');
  assert.equal(storage.getItem('a'), '1');
  storage.removeItem('a');
  assert.equal(storage.getItem('a'), null);
});
