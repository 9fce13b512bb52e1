import { test, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';

import { createClient } from '../src/core/client.js';
import { wxStorage, wxTransport } from '../src/transport/wx.js';
import { FakeTimers, WELCOME } from './fakes.js';
import { fakeMiniProgram } from './miniprogram-fakes.js';

let wx;
beforeEach(() => {
  wx = fakeMiniProgram();
  globalThis.wx = wx;
});
afterEach(() => {
  delete globalThis.wx;
});

function setup() {
  const timers = new FakeTimers();
  const client = createClient({
    url: 'wss://chat.example/ws/visitor?site=shop',
    site: 'shop',
    transport: wxTransport(), // picks up the global wx
    storage: wxStorage(),
    timers,
    random: () => 0.5,
  });
  return { client, timers };
}

test('connects with wx.connectSocket and speaks through the SocketTask', () => {
  const { client } = setup();
  client.connect();
  assert.equal(wx.tasks.length, 1);
  const task = wx.lastTask;
  assert.equal(task.options.url, 'wss://chat.example/ws/visitor?site=shop');
  assert.equal(task.options.protocols, undefined, 'JSON offers no subprotocol');
  task.open();
  assert.deepEqual(task.sent[0], { type: 'hello', site: 'shop' });
  task.receive(WELCOME);
  assert.equal(client.status, 'online');
  assert.equal(wx.getStorageSync('chatd:shop:token'), JSON.stringify('v1.token'), 'token kept with wx.setStorageSync');
  client.send('你好');
  // No conversation yet: the client asks for one first.
  assert.equal(task.sent[1].type, 'start');
});

test('msgpack frames go out as ArrayBuffer with the subprotocol', () => {
  const timers = new FakeTimers();
  const client = createClient({ url: 'wss://x/ws/visitor?site=shop', site: 'shop', transport: wxTransport(wx), codec: 'msgpack', timers });
  client.connect();
  assert.deepEqual(wx.lastTask.options.protocols, ['chatd.v1.msgpack']);
  wx.lastTask.open();
  assert.ok(wx.lastTask.sent[0] instanceof ArrayBuffer);
});

test('one socket per app: a new connection closes the previous SocketTask', () => {
  const transport = wxTransport(wx);
  const handlers = { open() {}, message() {}, close() {} };
  transport.connect('wss://a', [], handlers);
  const first = wx.lastTask;
  // Even a second transport instance (another client) shares the app's socket slot.
  wxTransport(wx).connect('wss://b', [], handlers);
  assert.deepEqual(first.closedWith, { code: 1000, reason: 'replaced' });
  assert.equal(wx.tasks.length, 2);
  assert.equal(wx.lastTask.closedWith, null);
});

test('the client never holds two live sockets, whatever happens', () => {
  const { client, timers } = setup();
  const live = () => wx.tasks.filter((task) => !task.closedWith).length;
  const steps = [
    () => client.connect(),
    () => wx.lastTask.open(),
    () => wx.lastTask.receive(WELCOME),
    () => wx.showApp(), // ping check while connected
    () => client.identify('v1.identity.sig'), // reconnect with an identity
    () => wx.lastTask.open(),
    () => wx.networkChange(true),
    () => wx.lastTask.serverClose(1012),
    () => wx.showApp(),
    () => wx.showApp(),
    () => timers.advance(30_000),
    () => wx.networkChange(true),
  ];
  for (const step of steps) {
    step();
    assert.ok(live() <= 1, `live sockets: ${live()}`);
  }
  assert.ok(wx.tasks.length >= 3);
});

test('reconnects at once on wx.onAppShow', () => {
  const { client, timers } = setup();
  client.connect();
  wx.lastTask.open();
  wx.lastTask.receive(WELCOME);
  client.attempt = 6; // a long backoff would follow
  wx.lastTask.serverClose(1006, 'app went to background');
  assert.equal(client.status, 'waiting');
  assert.equal(wx.tasks.length, 1);
  wx.showApp();
  assert.equal(wx.tasks.length, 2, 'no waiting for the backoff');
  assert.equal(client.status, 'connecting');
  assert.ok(timers.pending >= 1); // the hello timeout
});

test('on app show while connected, a ping checks the socket and a dead one is replaced', () => {
  const { client, timers } = setup();
  client.connect();
  const task = wx.lastTask;
  task.open();
  task.receive(WELCOME);
  wx.showApp();
  assert.equal(task.sent.filter((f) => f.type === 'ping').length, 1);
  timers.advance(5000);
  assert.equal(task.closedWith.code, 4000);
  assert.equal(client.status, 'waiting');
});

test('reconnects when the network comes back, not when it goes away', () => {
  const { client } = setup();
  client.connect();
  wx.lastTask.open();
  wx.lastTask.receive(WELCOME);
  wx.lastTask.serverClose(1006);
  wx.networkChange(false);
  assert.equal(wx.tasks.length, 1);
  wx.networkChange(true);
  assert.equal(wx.tasks.length, 2);
});

test('onError without onClose still counts as a close, once', () => {
  const { client } = setup();
  client.connect();
  const task = wx.lastTask;
  task.fire('error', { errMsg: 'connectSocket:fail' });
  assert.equal(client.status, 'waiting');
  const attempts = client.attempt;
  task.serverClose(1006);
  assert.equal(client.attempt, attempts, 'the late onClose is ignored');
});

test('a connectSocket fail callback counts as a close', () => {
  const { client } = setup();
  client.connect();
  wx.lastTask.options.fail({ errMsg: 'url not in domain list' });
  assert.equal(client.status, 'waiting');
});

test('disconnect() stops listening to onAppShow and onNetworkStatusChange', () => {
  const { client } = setup();
  client.connect();
  assert.equal(wx.appShow.length, 1);
  assert.equal(wx.network.length, 1);
  client.disconnect();
  assert.equal(wx.appShow.length, 0);
  assert.equal(wx.network.length, 0);
  assert.deepEqual(wx.tasks[0].closedWith, { code: 1000, reason: 'client' });
  wx.showApp();
  assert.equal(wx.tasks.length, 1);
});

test('wxStorage maps to getStorageSync / setStorageSync / removeStorageSync', () => {
  const storage = wxStorage(wx);
  assert.equal(storage.getItem('k'), null);
  storage.setItem('k', 'v');
  assert.equal(storage.getItem('k'), 'v');
  storage.removeItem('k');
  assert.equal(storage.getItem('k'), null);
});

test('wxTransport refuses to start without wx.connectSocket', () => {
  assert.throws(() => wxTransport({}), TypeError);
});
