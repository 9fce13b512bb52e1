import { test } from 'node:test';
import assert from 'node:assert/strict';

import {
  currentConversation,
  initialState,
  latestSeqs,
  needsRating,
  reduce,
  timeline,
  unreadCount,
} from '../src/core/reducer.js';
import { WELCOME, event, message } from './fakes.js';

function deepFreeze(value) {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const key of Object.keys(value)) deepFreeze(value[key]);
  }
  return value;
}

/** Apply events in order, checking at every step that the input state is not mutated. */
function run(events, state = initialState()) {
  for (const e of events) state = reduce(deepFreeze(state), deepFreeze(structuredClone(e)));
  return state;
}

const WELCOME_C1 = { ...WELCOME, conversations: [{ conversation_id: 'c1', state: 'queued', skill: 'general', last_seq: 0 }] };

test('messages are kept sorted by seq and a repeated seq is ignored', () => {
  const state = run([WELCOME_C1, message('c1', 2, 'b'), message('c1', 1, 'a'), message('c1', 3, 'c'), message('c1', 2, 'b again')]);
  const conv = state.conversations.c1;
  assert.deepEqual(conv.entries.map((e) => [e.seq, e.body]), [[1, 'a'], [2, 'b'], [3, 'c']]);
});

test('the conversation lifecycle: queued with position, assigned to an agent, closed', () => {
  let state = run([WELCOME_C1, event('c1', 1, 'queued', { state: 'queued', skill: 'general' })]);
  state = run([{ type: 'queue', conversation_id: 'c1', position: 3, length: 5, eta_seconds: 120 }], state);
  assert.equal(currentConversation(state).state, 'queued');
  assert.deepEqual(currentConversation(state).queue, { position: 3, length: 5, eta_seconds: 120 });

  state = run([event('c1', 2, 'assigned', { agent_id: 'ana', agent_name: 'Ana' })], state);
  let conv = currentConversation(state);
  assert.equal(conv.state, 'assigned');
  assert.equal(conv.agentId, 'ana');
  assert.equal(conv.agentName, 'Ana');
  assert.equal(conv.queue, null, 'no queue position once assigned');

  state = run([event('c1', 3, 'transferred', { from_agent: 'ana', to_agent: 'bo', note: 'billing' })], state);
  assert.equal(currentConversation(state).agentId, 'bo');
  state = run([{ type: 'typing', conversation_id: 'c1', from: { role: 'agent', id: 'bo' }, active: true }, event('c1', 4, 'closed')], state);
  conv = currentConversation(state);
  assert.equal(conv.state, 'closed');
  assert.equal(conv.typing, false);
  assert.ok(needsRating(state));
  state = run([{ type: 'rated', conversation_id: 'c1' }], state);
  assert.ok(!needsRating(state));
});

test('a conversation the bot closed without an agent asks for no rating', () => {
  const state = run([WELCOME_C1, event('c1', 1, 'closed')]);
  assert.ok(!needsRating(state));
});

test('typing and read receipts come from the other side only', () => {
  let state = run([WELCOME_C1, event('c1', 1, 'assigned', { agent_id: 'ana' })]);
  state = run([{ type: 'typing', conversation_id: 'c1', from: { role: 'visitor', id: 'v_1' }, active: true }], state);
  assert.equal(state.conversations.c1.typing, false);
  state = run([{ type: 'typing', conversation_id: 'c1', from: { role: 'agent', id: 'ana' }, active: true }], state);
  assert.equal(state.conversations.c1.typing, true);
  state = run([message('c1', 2, 'answer')], state);
  assert.equal(state.conversations.c1.typing, false, 'a message from the agent ends typing');
  state = run([{ type: 'typing', conversation_id: 'c1', from: { role: 'agent', id: 'ana' }, active: true }, { type: 'typing_timeout', conversation_id: 'c1' }], state);
  assert.equal(state.conversations.c1.typing, false);

  state = run([{ type: 'read', conversation_id: 'c1', from: { role: 'agent', id: 'ana' }, seq: 5 }], state);
  state = run([{ type: 'read', conversation_id: 'c1', from: { role: 'agent', id: 'ana' }, seq: 3 }], state);
  state = run([{ type: 'read', conversation_id: 'c1', from: { role: 'visitor', id: 'v_1' }, seq: 9 }], state);
  assert.equal(state.conversations.c1.peerReadSeq, 5);
});

test('a sent message is pending until its ack, then shown once at its seq', () => {
  let state = run([WELCOME_C1, { type: 'outgoing', conversation_id: 'c1', client_msg_id: 'm-1', body: '在吗', ts: 1 }]);
  assert.equal(state.pending.length, 1);
  assert.equal(timeline(state).at(-1).kind, 'pending');
  state = run([{ type: 'ack', conversation_id: 'c1', client_msg_id: 'm-1', seq: 7, ts: 2, duplicate: false }], state);
  assert.equal(state.pending.length, 0);
  assert.deepEqual(state.conversations.c1.entries.map((e) => [e.seq, e.body, e.from.role]), [[7, '在吗', 'visitor']]);
  // The server's echo of the same message changes nothing.
  const echoed = run([message('c1', 7, '在吗', 'visitor', { client_msg_id: 'm-1' })], state);
  assert.equal(echoed.conversations.c1.entries.length, 1);
});

test('an echo that arrives before the ack also clears the pending copy', () => {
  let state = run([WELCOME_C1, { type: 'outgoing', conversation_id: 'c1', client_msg_id: 'm-1', body: 'hi', ts: 1 }]);
  state = run([message('c1', 4, 'hi', 'visitor', { client_msg_id: 'm-1' })], state);
  assert.equal(state.pending.length, 0);
  state = run([{ type: 'ack', conversation_id: 'c1', client_msg_id: 'm-1', seq: 4 }], state);
  assert.equal(state.conversations.c1.entries.length, 1);
});

test('send_failed marks the pending message; discard removes it', () => {
  let state = run([{ type: 'outgoing', conversation_id: '', client_msg_id: 'm-1', body: 'x', ts: 1 }, { type: 'send_failed', client_msg_id: 'm-1', code: 'forbidden' }]);
  assert.equal(state.pending[0].status, 'failed');
  state = run([{ type: 'discard', client_msg_id: 'm-1' }], state);
  assert.equal(state.pending.length, 0);
});

test('suggestions in the protocol shape {entry_id, text}', () => {
  const state = run([{ type: 'suggestions', text: '物流', items: [
    { entry_id: 'kb-7', text: '物流进度', locale: 'zh-CN' }, { entry_id: 'kb-8', text: '物流不更新', locale: 'zh-CN' }, { entry_id: 'kb-9' },
  ] }]);
  assert.deepEqual(state.suggestions, [{ id: 'kb-7', question: '物流进度' }, { id: 'kb-8', question: '物流不更新' }]);
});

test('suggestions are validated, capped and cleared by sending', () => {
  let state = run([{ type: 'suggestions', items: [{ id: 1, question: '物流进度' }, { id: 2, question: '物流不更新' }, { id: 3 }, null, 'x'] }]);
  assert.deepEqual(state.suggestions, [{ id: '1', question: '物流进度' }, { id: '2', question: '物流不更新' }]);
  state = run([{ type: 'outgoing', conversation_id: 'c1', client_msg_id: 'm', body: '物流进度', ts: 1 }], state);
  assert.deepEqual(state.suggestions, []);
});

test('replay_gap shows a marker before the first entry after the gap; history fills in', () => {
  let state = run([WELCOME_C1, message('c1', 1, 'a'), { type: 'replay_gap', conversation_id: 'c1', after_seq: 1, first_seq: 50 }, message('c1', 50, 'z')]);
  assert.deepEqual(timeline(state).map((i) => i.kind), ['message', 'gap', 'message']);
  state = run([{
    type: 'history',
    conversation_id: 'c1',
    entries: [
      { conversation_id: 'c1', seq: 48, kind: 'message', sender_role: 'agent', sender_id: 'ana', body: 'older', ts: 1, data: {} },
      { conversation_id: 'c1', seq: 49, kind: 'event', sender_role: 'system', sender_id: '', body: 'assigned', ts: 1, data: { agent_id: 'ana' } },
    ],
  }], state);
  const entries = state.conversations.c1.entries;
  assert.deepEqual(entries.map((e) => e.seq), [1, 48, 49, 50]);
  assert.equal(entries[1].from.role, 'agent');
  assert.equal(entries[2].event, 'assigned');
});

test('unread counts agent and bot messages after the read marks', () => {
  const state = run([WELCOME_C1, message('c1', 1, 'q', 'visitor'), message('c1', 2, 'a1'), message('c1', 3, 'a2', 'bot'), event('c1', 4, 'closed')]);
  assert.equal(unreadCount(state, {}), 2);
  assert.equal(unreadCount(state, { c1: 2 }), 1);
  assert.equal(unreadCount(state, latestSeqs(state)), 0);
  assert.deepEqual(latestSeqs(state), { c1: 4 });
});

test('the current conversation is the newest one not closed', () => {
  let state = run([{ ...WELCOME, conversations: [{ conversation_id: 'old', state: 'closed' }, { conversation_id: 'c2', state: 'assigned', agent_id: 'ana' }] }]);
  assert.equal(state.current, 'c2');
  state = run([event('c2', 9, 'closed')], state);
  assert.equal(state.current, 'c2', 'the last closed one while nothing is open');
  state = run([{ type: 'conversation', conversation: { conversation_id: 'c3', state: 'open' } }], state);
  assert.equal(state.current, 'c3');
  assert.deepEqual(state.order, ['old', 'c2', 'c3']);
});

test('a welcome for another visitor drops the old view; reset starts over', () => {
  let state = run([WELCOME_C1, message('c1', 1, 'a')]);
  state = run([{ ...WELCOME, visitor_id: 'u:42', conversations: [] }], state);
  assert.deepEqual(state.order, []);
  state = run([{ type: 'connection', status: 'online' }, WELCOME_C1, { type: 'reset' }], state);
  assert.deepEqual({ ...state, connection: 'idle' }, initialState());
  assert.equal(state.connection, 'online');
});

test('nobody on duty: welcome.on_duty false or an offline error', () => {
  assert.equal(run([{ ...WELCOME, on_duty: false }]).onDuty, false);
  assert.equal(run([WELCOME]).onDuty, true);
  assert.equal(run([{ type: 'error', code: 'offline', message: 'closed' }]).onDuty, false);
});

test('connection status and the stop error', () => {
  let state = run([{ type: 'connection', status: 'stopped', error: { code: 'origin_not_allowed' } }]);
  assert.equal(state.error.code, 'origin_not_allowed');
  state = run([{ type: 'connection', status: 'online' }], state);
  assert.equal(state.error, null);
});

test('unknown events and frames leave the state as it is', () => {
  const state = initialState();
  assert.equal(reduce(state, { type: 'pong', ts: 1 }), state);
  assert.equal(reduce(state, null), state);
  assert.equal(reduce(state, { type: 'typing', conversation_id: 'nope', from: { role: 'agent' }, active: true }), state);
});

test('resync empties the conversation view; the replayed log fills it again', () => {
  let state = initialState();
  state = reduce(state, { type: 'conversation', conversation: { conversation_id: 'c1', state: 'assigned' } });
  state = reduce(state, { type: 'message', conversation_id: 'c1', seq: 1, from: { role: 'agent', id: 'ana' }, body: 'old', ts: 1 });
  state = reduce(state, { type: 'synced', conversation_id: 'c1', last_seq: 1 });
  state = reduce(state, { type: 'resync', conversation_id: 'c1', epoch: 'e2' });
  assert.deepEqual(state.conversations.c1.entries, []);
  assert.equal(state.conversations.c1.synced, false);
  state = reduce(state, { type: 'message', conversation_id: 'c1', seq: 1, from: { role: 'agent', id: 'ana' }, body: 'new', ts: 2 });
  assert.deepEqual(state.conversations.c1.entries.map((e) => e.body), ['new']);
});
