import { test } from 'node:test';
import assert from 'node:assert/strict';

import { createClient } from '../src/core/client.js';
import { backoff, drainDelay } from '../src/core/backoff.js';
import { memoryStorage } from '../src/core/storage.js';
import { FakeTimers, FakeTransport, WELCOME, event, message } from './fakes.js';

function setup({ storage = memoryStorage(), random = () => 0.5, ...options } = {}) {
  const transport = new FakeTransport();
  const timers = new FakeTimers();
  const client = createClient({
    url: 'wss://chat.example/ws/visitor?site=demo',
    site: 'demo',
    transport,
    storage,
    timers,
    random,
    now: () => 1_700_000_000_000 + timers.now,
    ...options,
  });
  const events = [];
  client.on('*', (e) => events.push(e));
  return { client, transport, timers, storage, events };
}

/** Connect, open, and answer hello with a welcome. Returns the socket. */
function online(env, welcome = {}) {
  env.client.connect();
  const socket = env.transport.last;
  socket.open();
  socket.receive({ ...WELCOME, ...welcome });
  return socket;
}

/** Let the pending reconnect happen (exactly its backoff delay) and return the new socket. */
function reconnect(env) {
  assert.equal(env.client.status, 'waiting');
  const count = env.transport.sockets.length;
  const waiting = env.events.filter((e) => e.type === 'connection' && e.status === 'waiting').pop();
  env.timers.advance(waiting.delay);
  assert.equal(env.transport.sockets.length, count + 1);
  return env.transport.last;
}

const ASSIGNED = { conversations: [{ conversation_id: 'c1', state: 'assigned', agent_id: 'ana', skill: 'general', last_seq: 0 }] };

test('hello is the first frame and the visitor token is stored for the next page load', () => {
  const env = setup();
  const socket = online(env);
  assert.deepEqual(socket.sent[0], { type: 'hello', site: 'demo' });
  assert.equal(env.client.status, 'online');
  assert.equal(JSON.parse(env.storage.getItem('chatd:demo:token')), 'v1.token');

  const reloaded = setup({ storage: env.storage });
  reloaded.client.connect();
  reloaded.transport.last.open();
  assert.equal(reloaded.transport.last.sent[0].token, 'v1.token');
});

test('json offers no subprotocol; msgpack offers chatd.v1.msgpack and sends binary frames', () => {
  const json = setup();
  json.client.connect();
  assert.deepEqual(json.transport.last.protocols, []);

  const packed = setup({ codec: 'msgpack' });
  packed.client.connect();
  const socket = packed.transport.last;
  assert.deepEqual(socket.protocols, ['chatd.v1.msgpack']);
  socket.open();
  assert.ok(socket.raw[0] instanceof ArrayBuffer);
  assert.deepEqual(socket.sent[0], { type: 'hello', site: 'demo' });
});

test('an unacknowledged message is resent with the same client_msg_id after a reconnect', () => {
  const env = setup();
  const first = online(env, ASSIGNED);
  const id = env.client.send('你好');
  const sent = first.sentOfType('send');
  assert.equal(sent.length, 1);
  assert.deepEqual(sent[0], { type: 'send', conversation_id: 'c1', client_msg_id: id, body: '你好', ref: id });

  first.serverClose(1006); // connection lost before the ack
  assert.equal(env.client.status, 'waiting');
  const second = reconnect(env);
  assert.notEqual(second, first);
  second.open();
  assert.equal(second.sentOfType('send').length, 0, 'nothing is sent before welcome');
  second.receive({ ...WELCOME, ...ASSIGNED });
  const resent = second.sentOfType('send');
  assert.equal(resent.length, 1);
  assert.equal(resent[0].client_msg_id, id);
  assert.equal(resent[0].body, '你好');

  second.receive({ type: 'ack', conversation_id: 'c1', client_msg_id: id, seq: 1, ts: 1, duplicate: true });
  assert.equal(env.client.outbox.size, 0);
  assert.equal(env.storage.getItem('chatd:demo:outbox'), null);
});

test('the outbox survives a reload: a new client resends with the same client_msg_id', () => {
  const env = setup();
  online(env, ASSIGNED);
  const id = env.client.send('still there?');
  env.client.disconnect();

  const reloaded = setup({ storage: env.storage });
  const socket = online(reloaded, ASSIGNED);
  assert.deepEqual(socket.sentOfType('send').map((f) => f.client_msg_id), [id]);
});

test('entries whose seq was already seen are ignored across reconnects', () => {
  const env = setup();
  const first = online(env, ASSIGNED);
  first.receive(message('c1', 1, 'one'));
  first.receive(message('c1', 2, 'two'));
  first.serverClose(1006);
  const second = reconnect(env);
  second.open();
  second.receive({ ...WELCOME, ...ASSIGNED });
  // The server replays from the resume point; an overlap must not show twice.
  second.receive(message('c1', 2, 'two'));
  second.receive(message('c1', 3, 'three'));
  second.receive(message('c1', 1, 'one'));
  const seen = env.events.filter((e) => e.type === 'message').map((e) => e.seq);
  assert.deepEqual(seen, [1, 2, 3]);
});

test('resume carries the last seen seq of every conversation', () => {
  const env = setup();
  const first = online(env, {
    conversations: [
      { conversation_id: 'c1', state: 'closed', last_seq: 3 },
      { conversation_id: 'c2', state: 'assigned', last_seq: 5 },
    ],
  });
  for (const seq of [1, 2, 3]) first.receive(message('c1', seq, `a${seq}`));
  for (const seq of [1, 2, 3, 4, 5]) first.receive(event('c2', seq, 'queued'));
  first.serverClose(1006);
  const second = reconnect(env);
  second.open();
  assert.deepEqual(second.sent[0], { type: 'hello', site: 'demo', token: 'v1.token', resume: { c1: 3, c2: 5 } });
});

test('replay_gap: the trimmed range is skipped, reported, and older seqs stay ignored', () => {
  const env = setup();
  const socket = online(env, ASSIGNED);
  for (const seq of [1, 2, 3]) socket.receive(message('c1', seq, `m${seq}`));
  socket.receive({ type: 'replay_gap', conversation_id: 'c1', after_seq: 3, first_seq: 120 });
  socket.receive(message('c1', 120, 'm120'));
  socket.receive(message('c1', 121, 'm121'));
  socket.receive(message('c1', 50, 'stale'));
  assert.deepEqual(env.events.filter((e) => e.type === 'message').map((e) => e.seq), [1, 2, 3, 120, 121]);
  assert.equal(env.events.filter((e) => e.type === 'replay_gap').length, 1);
  assert.deepEqual(env.client.seqs.resume(), { c1: 121 });
});

test('resume names the log epoch of each seq once the server told it', () => {
  const env = setup();
  const first = online(env, { conversations: [{ conversation_id: 'c1', state: 'assigned', epoch: 'e1' }] });
  for (const seq of [1, 2]) first.receive(message('c1', seq, `m${seq}`, 'agent', { epoch: 'e1' }));
  first.receive({ type: 'synced', conversation_id: 'c1', last_seq: 2, epoch: 'e1' });
  first.serverClose(1006);
  const second = reconnect(env);
  second.open();
  assert.deepEqual(second.sent[0].resume, { c1: { seq: 2, epoch: 'e1' } });
});

test('resync: the server lost history, so the seqs start over and the whole log comes again', () => {
  const env = setup();
  const socket = online(env, ASSIGNED);
  for (const seq of [1, 2, 3]) socket.receive(message('c1', seq, `m${seq}`, 'agent', { epoch: 'e1' }));
  // Redis came back without its last second: seq 3 is gone, and seqs 3.. are handed out again.
  socket.receive({ type: 'resync', conversation_id: 'c1', epoch: 'e2' });
  socket.receive(message('c1', 1, 'm1', 'agent', { epoch: 'e2' }));
  socket.receive(message('c1', 2, 'm2', 'agent', { epoch: 'e2' }));
  socket.receive(message('c1', 3, 'new after the restart', 'agent', { epoch: 'e2' }));
  const bodies = env.events.filter((e) => e.type === 'message').map((e) => e.body);
  assert.deepEqual(bodies, ['m1', 'm2', 'm3', 'm1', 'm2', 'new after the restart']);
  assert.deepEqual(env.client.seqs.resume(), { c1: { seq: 3, epoch: 'e2' } });
});

test('an entry of another epoch without a resync is not trusted: the client reconnects', () => {
  const env = setup();
  const socket = online(env, ASSIGNED);
  socket.receive(message('c1', 1, 'm1', 'agent', { epoch: 'e1' }));
  socket.receive(message('c1', 2, 'other history', 'agent', { epoch: 'e9' }));
  assert.deepEqual(env.events.filter((e) => e.type === 'message').map((e) => e.body), ['m1']);
  assert.equal(env.client.status, 'waiting');
  const again = reconnect(env);
  again.open();
  assert.deepEqual(again.sent[0].resume, { c1: { seq: 1, epoch: 'e1' } });
});

test('reconnect delays follow backoff() with the injected random, and reset after welcome', () => {
  const random = () => 0.75;
  const env = setup({ random, backoff: { base: 100, cap: 1000 } });
  env.client.connect();
  const delays = [];
  for (let i = 0; i < 6; i++) {
    env.transport.last.serverClose(1006);
    const waiting = env.events.filter((e) => e.type === 'connection' && e.status === 'waiting').pop();
    delays.push(waiting.delay);
    env.timers.advance(waiting.delay - 1);
    const before = env.transport.sockets.length;
    env.timers.advance(1);
    assert.equal(env.transport.sockets.length, before + 1, 'reconnects exactly when the delay is over');
  }
  assert.deepEqual(delays, [0, 1, 2, 3, 4, 5].map((n) => backoff(n, { base: 100, cap: 1000, random })));
  assert.deepEqual(delays, [75, 150, 300, 600, 750, 750]);

  env.transport.last.open();
  env.transport.last.receive(WELCOME);
  assert.equal(env.client.attempt, 0);
  env.transport.last.serverClose(1006);
  assert.equal(env.events.filter((e) => e.type === 'connection' && e.status === 'waiting').pop().delay, 75);
});

test('heartbeat: a ping every heartbeat_seconds, and a silent socket is dropped and replaced', () => {
  const env = setup();
  const socket = online(env, { heartbeat_seconds: 10 });
  env.timers.advance(9_999);
  assert.equal(socket.sentOfType('ping').length, 0);
  env.timers.advance(1);
  assert.equal(socket.sentOfType('ping').length, 1);
  socket.receive({ type: 'pong', ts: 1 });
  env.timers.advance(10_000);
  assert.equal(socket.sentOfType('ping').length, 2);
  assert.equal(socket.closed, null);
  // No answer to the second ping: at the next beat the socket counts as dead.
  env.timers.advance(10_000);
  assert.deepEqual(socket.closed, { code: 4000, reason: 'heartbeat timeout', by: 'client' });
  reconnect(env);
});

test('close 1012 (draining): reconnect after a random delay within drainDelayMax, attempts untouched', () => {
  const random = () => 0.4;
  const env = setup({ random, drainDelayMax: 5000 });
  const socket = online(env);
  socket.serverClose(1012, 'draining');
  const waiting = env.events.filter((e) => e.type === 'connection' && e.status === 'waiting').pop();
  assert.equal(waiting.delay, drainDelay(5000, random));
  assert.equal(waiting.delay, 2000);
  assert.equal(env.client.attempt, 0);
  env.timers.advance(1999);
  assert.equal(env.transport.sockets.length, 1);
  env.timers.advance(1);
  assert.equal(env.transport.sockets.length, 2);
});

test('1012 delays spread over [0, drainDelayMax)', () => {
  const delays = new Set();
  for (let i = 0; i < 200; i++) {
    const d = drainDelay(5000, Math.random);
    assert.ok(d >= 0 && d < 5000);
    delays.add(Math.floor(d / 1000));
  }
  assert.equal(delays.size, 5);
});

test('the first message starts a conversation, then goes to it', () => {
  const env = setup();
  const socket = online(env);
  const id = env.client.send('hi');
  const [start] = socket.sentOfType('start');
  assert.ok(start.ref);
  assert.equal(socket.sentOfType('send').length, 0);
  socket.receive({ type: 'conversation', ref: start.ref, conversation: { conversation_id: 'c9', state: 'open', last_seq: 0 } });
  const [send] = socket.sentOfType('send');
  assert.equal(send.conversation_id, 'c9');
  assert.equal(send.client_msg_id, id);
  env.client.send('second');
  assert.equal(socket.sentOfType('start').length, 1, 'one start only');
  assert.equal(socket.sentOfType('send').length, 2 + 1, 'first resent by flush, second sent once');
});

test('start carries pre-chat attributes and is owed across a reconnect', () => {
  const env = setup();
  env.client.start({ attributes: { name: 'Li Lei', phone: '13800000000' } });
  const first = env.transport.last;
  first.open();
  first.serverClose(1006); // lost before welcome
  const second = reconnect(env);
  second.open();
  second.receive(WELCOME);
  const [start] = second.sentOfType('start');
  assert.deepEqual(start.attributes, { name: 'Li Lei', phone: '13800000000' });
});

test('start merges setAttributes() with its own attributes; send() alone uses setAttributes()', () => {
  const env = setup({ attributes: { plan: 'pro' } });
  const socket = online(env);
  env.client.setAttributes({ plan: 'vip', order_id: '1234' });
  env.client.send('where is my parcel?');
  assert.deepEqual(socket.sentOfType('start')[0].attributes, { plan: 'vip', order_id: '1234' });

  const other = setup({ attributes: { plan: 'pro' } });
  const socket2 = online(other);
  other.client.start({ skill: 'logistics', attributes: { name: 'Li Lei' } });
  assert.deepEqual(socket2.sentOfType('start')[0], { type: 'start', skill: 'logistics', attributes: { plan: 'pro', name: 'Li Lei' }, ref: socket2.sentOfType('start')[0].ref });
});

test('a message refused for good is reported and dropped; rate_limited is retried', () => {
  const env = setup();
  const socket = online(env, ASSIGNED);
  const bad = env.client.send('x');
  socket.receive({ type: 'error', code: 'forbidden', message: 'no', ref: bad });
  assert.equal(env.client.outbox.size, 0);
  const failed = env.events.find((e) => e.type === 'send_failed');
  assert.equal(failed.client_msg_id, bad);
  assert.equal(failed.code, 'forbidden');

  const busy = env.client.send('y');
  socket.receive({ type: 'error', code: 'rate_limited', message: 'slow down', ref: busy });
  assert.equal(env.client.outbox.size, 1);
  const before = socket.sentOfType('send').length;
  env.timers.advance(3000);
  assert.equal(socket.sentOfType('send').length, before + 1);
  assert.equal(socket.sentOfType('send').pop().client_msg_id, busy);
});

test('conversation_closed: the message moves to a new conversation with the same client_msg_id', () => {
  const env = setup();
  const socket = online(env, ASSIGNED);
  const id = env.client.send('one more thing');
  socket.receive({ type: 'error', code: 'conversation_closed', message: 'closed', ref: id, conversation_id: 'c1' });
  const [start] = socket.sentOfType('start');
  assert.ok(start);
  socket.receive({ type: 'conversation', ref: start.ref, conversation: { conversation_id: 'c2', state: 'open' } });
  const last = socket.sentOfType('send').pop();
  assert.equal(last.conversation_id, 'c2');
  assert.equal(last.client_msg_id, id);
});

test('a refused stored token is forgotten and the visitor comes back anonymous', () => {
  const storage = memoryStorage({ 'chatd:demo:token': JSON.stringify('v1.other-site') });
  const env = setup({ storage });
  env.client.connect();
  const socket = env.transport.last;
  socket.open();
  assert.equal(socket.sent[0].token, 'v1.other-site');
  socket.receive({ type: 'error', code: 'unauthorized', message: 'token for another site' });
  socket.serverClose(4001);
  assert.equal(env.client.status, 'waiting');
  assert.equal(storage.getItem('chatd:demo:token'), null);
  reconnect(env).open();
  assert.equal(env.transport.last.sent[0].token, undefined);
});

test('an expired identity stops the client until identify() gives a new one', () => {
  const env = setup({ identity: 'v1.old.sig' });
  env.client.connect();
  const socket = env.transport.last;
  socket.open();
  assert.equal(socket.sent[0].identity, 'v1.old.sig');
  socket.receive({ type: 'error', code: 'token_expired', message: 'expired' });
  socket.serverClose(4001);
  assert.equal(env.client.status, 'stopped');
  env.timers.advance(600_000);
  assert.equal(env.transport.sockets.length, 1, 'no reconnect loop');
  env.client.identify('v1.new.sig');
  assert.equal(env.transport.sockets.length, 2);
  env.transport.last.open();
  assert.equal(env.transport.last.sent[0].identity, 'v1.new.sig');
});

test('origin refused (4003) stops the client', () => {
  const env = setup();
  env.client.connect();
  env.transport.last.open();
  env.transport.last.receive({ type: 'error', code: 'origin_not_allowed', message: 'no' });
  env.transport.last.serverClose(4003);
  assert.equal(env.client.status, 'stopped');
  assert.equal(env.client.stoppedError.code, 'origin_not_allowed');
});

test('identify() while online reconnects with the identity; a new visitor id clears seqs', () => {
  const env = setup();
  const first = online(env, ASSIGNED);
  first.receive(message('c1', 1, 'hello'));
  env.client.identify('v1.payload.sig');
  assert.equal(first.closed.code, 1000);
  const second = env.transport.last;
  second.open();
  assert.equal(second.sent[0].identity, 'v1.payload.sig');
  second.receive({ ...WELCOME, visitor_id: 'u:42', conversations: [] });
  assert.deepEqual(env.client.seqs.resume(), {});
  // Late events of the replaced socket are ignored.
  first.serverClose(1000);
  assert.equal(env.client.status, 'online');
});

test('wake(): reconnects at once when waiting; when online, drops a socket that does not answer', () => {
  const env = setup();
  const socket = online(env);
  socket.serverClose(1006);
  env.client.attempt = 5; // a long backoff is pending
  env.transport.wake('app_show');
  assert.equal(env.transport.sockets.length, 2);
  const second = env.transport.last;
  second.open();
  second.receive(WELCOME);
  env.transport.wake('network');
  assert.equal(second.sentOfType('ping').length, 1);
  env.timers.advance(5000);
  assert.equal(second.closed.code, 4000);
  assert.equal(env.client.status, 'waiting');
});

test('disconnect() stops reconnecting and unwatches; reset() forgets token, outbox and seqs', () => {
  const env = setup();
  const socket = online(env, ASSIGNED);
  socket.receive(message('c1', 1, 'hello'));
  env.client.send('pending');
  env.client.reset();
  assert.equal(env.client.status, 'idle');
  assert.equal(env.transport.wake, null);
  assert.equal(socket.closed.code, 1000);
  env.timers.advance(600_000);
  assert.equal(env.transport.sockets.length, 1);
  for (const key of ['token', 'visitor', 'outbox']) assert.equal(env.storage.getItem(`chatd:demo:${key}`), null, key);
  assert.equal(env.client.outbox.size, 0);
  assert.deepEqual(env.client.seqs.resume(), {});
  assert.equal(env.events.pop().type, 'reset');
});

test('read, close and rate wait for the connection; typing is dropped when offline', () => {
  const env = setup();
  env.client.typing('c1', true);
  env.client.read('c1', 3);
  env.client.read('c1', 4);
  const ref = env.client.rate('c1', 5, '很好');
  assert.throws(() => env.client.rate('c1', 6), RangeError);
  const socket = online(env, ASSIGNED);
  assert.deepEqual(socket.sentOfType('read'), [{ type: 'read', conversation_id: 'c1', seq: 4 }]);
  assert.deepEqual(socket.sentOfType('rate'), [{ type: 'rate', conversation_id: 'c1', score: 5, comment: '很好', ref }]);
  assert.equal(socket.sentOfType('typing').length, 0);
});

test('suggest() asks only while online, for a non-blank draft', () => {
  const env = setup();
  env.client.suggest('物流');
  const socket = online(env, ASSIGNED);
  assert.equal(socket.sentOfType('suggest').length, 0);
  env.client.suggest('   ');
  env.client.suggest('物流');
  assert.deepEqual(socket.sentOfType('suggest'), [{ type: 'suggest', text: '物流' }]);
});

test('send() validates the body length in code points', () => {
  const env = setup();
  assert.throws(() => env.client.send(''), RangeError);
  assert.throws(() => env.client.send('a'.repeat(4001)), RangeError);
  assert.doesNotThrow(() => env.client.send('😀'.repeat(4000)));
});

test('a transport that throws on connect is retried with backoff', () => {
  const timers = new FakeTimers();
  let calls = 0;
  const transport = {
    connect() {
      calls++;
      throw new Error('no network');
    },
  };
  const client = createClient({ url: 'ws://x/ws/visitor?site=demo', site: 'demo', transport, timers, random: () => 0.5 });
  client.connect();
  assert.equal(client.status, 'waiting');
  timers.advance(60_000);
  assert.ok(calls > 3);
});
