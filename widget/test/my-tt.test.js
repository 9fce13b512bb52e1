import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';

import { createClient } from '../src/core/client.js';
import { myStorage, myTransport } from '../src/transport/my.js';
import { ttStorage, ttTransport } from '../src/transport/tt.js';
import { FakeTimers, WELCOME } from './fakes.js';
import { fakeMiniProgram } from './miniprogram-fakes.js';

afterEach(() => {
  delete globalThis.tt;
  delete globalThis.my;
});

function chat(transport, storage) {
  const timers = new FakeTimers();
  const client = createClient({
    url: 'wss://chat.example/ws/visitor?site=shop', site: 'shop', transport, storage, timers, random: () => 0.5,
  });
  return { client, timers };
}

test('Douyin: tt.connectSocket, its SocketTask and tt storage, picked up from the global tt', () => {
  const tt = fakeMiniProgram();
  globalThis.tt = tt;
  const { client } = chat(ttTransport(), ttStorage());
  client.connect();
  const task = tt.lastTask;
  assert.equal(task.options.url, 'wss://chat.example/ws/visitor?site=shop');
  task.open();
  assert.deepEqual(task.sent[0], { type: 'hello', site: 'shop' });
  task.receive(WELCOME);
  assert.equal(client.status, 'online');
  assert.equal(tt.getStorageSync('chatd:shop:token'), JSON.stringify('v1.token'));
  // A drop waits for its backoff; coming back to the foreground reconnects at once.
  client.attempt = 6;
  task.serverClose(1006);
  assert.equal(client.status, 'waiting');
  tt.showApp();
  assert.equal(tt.tasks.length, 2);
  assert.equal(client.status, 'connecting');
});

test('Alipay: my.connectSocket with multiple: true, no subprotocol, object storage', () => {
  const my = fakeMiniProgram({ alipay: true });
  globalThis.my = my;
  const { client } = chat(myTransport(), myStorage());
  client.connect();
  const task = my.lastTask;
  assert.equal(task.options.multiple, true, 'without it my.connectSocket returns no task');
  assert.equal(task.options.protocols, undefined);
  task.open();
  task.receive(WELCOME);
  assert.equal(client.status, 'online');
  assert.equal(my.storage.get('chatd:shop:token'), JSON.stringify('v1.token'), 'kept with my.setStorageSync({key, data})');
  assert.equal(myStorage(my).getItem('chatd:shop:token'), JSON.stringify('v1.token'));
  assert.equal(myStorage(my).getItem('missing'), null);
  myStorage(my).removeItem('chatd:shop:token');
  assert.equal(my.storage.has('chatd:shop:token'), false);
});

test('Alipay refuses the msgpack codec, which needs a subprotocol it cannot offer', () => {
  const my = fakeMiniProgram({ alipay: true });
  assert.throws(() => myTransport(my).connect('wss://x', ['chatd.v1.msgpack'], { open() {}, message() {}, close() {} }),
    /use codec 'json'/);
  assert.equal(my.tasks.length, 0);
});

test('a platform without connectSocket is refused by name', () => {
  assert.throws(() => ttTransport({}), /tt.connectSocket is not available/);
  assert.throws(() => myTransport(undefined), /my.connectSocket is not available/);
});
