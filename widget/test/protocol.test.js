import { test } from 'node:test';
import assert from 'node:assert/strict';

import { codecs, codePoints, decodeFrame, frames, isEntry, stateAfterEvent, visitorUrl } from '../src/core/protocol.js';
import { decode, encode } from '../src/core/msgpack.js';

test('visitorUrl maps http(s) to ws(s) and escapes the site', () => {
  assert.equal(visitorUrl('https://chat.example.com/', 'demo'), 'wss://chat.example.com/ws/visitor?site=demo');
  assert.equal(visitorUrl('http://127.0.0.1:8080', 'a b'), 'ws://127.0.0.1:8080/ws/visitor?site=a%20b');
  assert.equal(visitorUrl('wss://x', 'demo'), 'wss://x/ws/visitor?site=demo');
});

test('decodeFrame: JSON text, msgpack binary, and junk is null', () => {
  assert.deepEqual(decodeFrame('{"type":"pong","ts":1}'), { type: 'pong', ts: 1 });
  assert.deepEqual(decodeFrame(encode({ type: 'pong', ts: 1 })), { type: 'pong', ts: 1 });
  for (const junk of ['', 'nope', '[1,2]', '{"no":"type"}', '{"type":3}', 'null', new ArrayBuffer(0)]) {
    assert.equal(decodeFrame(junk), null, String(junk));
  }
});

test('frame builders drop empty optional fields', () => {
  assert.deepEqual(frames.hello({ site: 'demo', token: '', identity: undefined, name: '', resume: {} }), { type: 'hello', site: 'demo' });
  assert.deepEqual(frames.hello({ site: 'demo', token: 't', resume: { c1: 4 } }), { type: 'hello', site: 'demo', token: 't', resume: { c1: 4 } });
  assert.deepEqual(frames.start({}), { type: 'start' });
  assert.deepEqual(frames.send({ conversation_id: 'c', client_msg_id: 'm-1', body: 'x', extra: 1 }), { type: 'send', conversation_id: 'c', client_msg_id: 'm-1', body: 'x', ref: 'm-1' });
  assert.deepEqual(frames.rate({ conversation_id: 'c', score: 4, comment: '' }), { type: 'rate', conversation_id: 'c', score: 4 });
  assert.deepEqual(frames.suggest('物流'.repeat(150)), { type: 'suggest', text: '物流'.repeat(100) });
});

test('entries and the state an event leads to', () => {
  assert.ok(isEntry({ type: 'message', conversation_id: 'c', seq: 1 }));
  assert.ok(!isEntry({ type: 'message', conversation_id: 'c', seq: '1' }));
  assert.ok(!isEntry({ type: 'ack', conversation_id: 'c', seq: 1 }));
  assert.equal(stateAfterEvent('queued'), 'queued');
  assert.equal(stateAfterEvent('assigned'), 'assigned');
  assert.equal(stateAfterEvent('closed'), 'closed');
  assert.equal(stateAfterEvent('transferred', { state: 'queued' }), 'queued');
  assert.equal(stateAfterEvent('something'), '');
});

test('code points, as the server counts them', () => {
  assert.equal(codePoints('你好'), 2);
  assert.equal(codePoints('😀'), 1);
  assert.equal('😀'.length, 2);
});

test('json codec encodes text frames', () => {
  assert.equal(codecs.json.encode({ type: 'ping' }), '{"type":"ping"}');
  assert.equal(codecs.msgpack.subprotocol, 'chatd.v1.msgpack');
});

test('msgpack round-trips every type chatd frames use', () => {
  const values = [
    null, true, false, 0, 1, 127, 128, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1,
    -1, -32, -33, -128, -129, -32768, -32769, -(2 ** 31), -(2 ** 31) - 1, 1.5, -0.25, 1763884800.12,
    '', 'a', '你好，我的快递到哪了？', '😀 emoji', 'x'.repeat(31), 'x'.repeat(32), 'y'.repeat(300), 'z'.repeat(70000),
    [], [1, [2, [3]]], Array.from({ length: 20 }, (_, i) => i),
    {}, { type: 'message', conversation_id: 'c_8f2k1', seq: 45, from: { role: 'agent', id: 'ana' }, body: 'hi', ts: 1.5 },
    Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`k${i}`, i])),
  ];
  for (const value of values) assert.deepEqual(decode(encode(value)), value);
  assert.deepEqual([...decode(encode(new Uint8Array([1, 2, 3])))], [1, 2, 3]);
});

test('msgpack matches reference encodings byte for byte', () => {
  const hex = (buffer) => Buffer.from(buffer).toString('hex');
  assert.equal(hex(encode({ type: 'ping' })), '81a474797065a470696e67');
  assert.equal(hex(encode(-1)), 'ff');
  assert.equal(hex(encode(300)), 'cd012c');
  assert.equal(hex(encode(1.5)), 'cb3ff8000000000000');
  assert.equal(hex(encode('é')), 'a2c3a9');
  // Reference decodings: float32, int64, uint64, fixext (skipped as null).
  assert.equal(decode(Buffer.from('ca3fc00000', 'hex')), 1.5);
  assert.equal(decode(Buffer.from('d3ffffffffffffffff', 'hex')), -1);
  assert.equal(decode(Buffer.from('cf0000000100000000', 'hex')), 2 ** 32);
  assert.deepEqual(decode(Buffer.from('92d401ff01', 'hex')), [null, 1]);
});

test('msgpack rejects truncated input', () => {
  assert.throws(() => decode(Buffer.from('a5ab', 'hex')), RangeError);
  assert.throws(() => decode(Buffer.from('cd01', 'hex')), RangeError);
});
