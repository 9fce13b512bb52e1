/**
 * The conversation view as a pure reducer: `reduce(state, event) -> state`.
 *
 * Events are the client's events (server frames after seq deduplication, and
 * the local `connection`, `outgoing`, `send_failed`, `reset`) plus a few view
 * events (`history`, `rated`, `typing_timeout`, `discard`). The reducer never
 * mutates its input and never does I/O, so the panel, a mini-program page or a
 * test can all drive it the same way. Entries are kept sorted by seq and
 * unique per seq, so a replayed entry is harmless even if it gets this far.
 */

import { stateAfterEvent } from './protocol.js';

export function initialState() {
  return {
    connection: 'idle', // idle | connecting | online | waiting | stopped
    error: null, // {code, message} that stopped the client
    visitorId: '',
    current: '', // the conversation the composer talks to (or the last closed one)
    order: [], // conversation ids, oldest first
    conversations: {}, // id -> conversation view, see newConversation()
    pending: [], // messages not yet acknowledged: {clientMsgId, conversationId, body, ts, status}
    suggestions: [], // [{id, question}] from the bot while the visitor types
    onDuty: true, // false: nobody on duty, offer the leave-a-message form
    rated: {}, // conversation id -> true once rated
  };
}

function newConversation(id) {
  return {
    id,
    state: '',
    agentId: '',
    agentName: '',
    skill: '',
    everAssigned: false,
    entries: [], // {seq, kind: 'message'|'event', from, body, ts, clientMsgId, event, data}
    queue: null, // {position, length, eta_seconds}
    typing: false,
    peerReadSeq: 0, // the agent has read up to this seq
    agentOnline: null,
    synced: false,
    gaps: [], // [{after_seq, first_seq}]
  };
}

export function reduce(state, event) {
  if (!event || typeof event.type !== 'string') return state;
  const handler = handlers[event.type];
  return handler ? handler(state, event) : state;
}

// ---- helpers (all return new objects) ---------------------------------------

function withConversation(state, id, update) {
  if (!id) return state;
  const existing = state.conversations[id];
  const conv = update(existing || newConversation(id));
  if (conv === existing) return state;
  const order = existing ? state.order : state.order.concat(id);
  const conversations = { ...state.conversations, [id]: conv };
  return { ...state, order, conversations, current: pickCurrent(order, conversations) };
}

/** The newest conversation that is not closed, else the newest one. */
function pickCurrent(order, conversations) {
  for (let i = order.length - 1; i >= 0; i--) if (conversations[order[i]].state !== 'closed') return order[i];
  return order.length ? order[order.length - 1] : '';
}

function insertEntry(entries, entry) {
  // Entries almost always arrive in order: check the tail first.
  let i = entries.length;
  while (i > 0 && entries[i - 1].seq > entry.seq) i--;
  if (i > 0 && entries[i - 1].seq === entry.seq) return entries;
  const out = entries.slice();
  out.splice(i, 0, entry);
  return out;
}

function applyMeta(conv, meta) {
  const next = { ...conv };
  if (typeof meta.state === 'string' && meta.state) next.state = meta.state;
  if ('agent_id' in meta) next.agentId = meta.agent_id || '';
  if (meta.agent_name) next.agentName = meta.agent_name;
  if (meta.skill) next.skill = meta.skill;
  if (next.agentId) next.everAssigned = true;
  if (next.state !== 'queued') next.queue = null;
  return next;
}

function fromOf(event) {
  const from = event.from && typeof event.from === 'object' ? event.from : {};
  return { role: String(from.role || ''), id: String(from.id || '') };
}

function dropPending(pending, clientMsgId) {
  if (!clientMsgId) return pending;
  const next = pending.filter((p) => p.clientMsgId !== clientMsgId);
  return next.length === pending.length ? pending : next;
}

function messageEntry(event) {
  return {
    seq: event.seq,
    kind: 'message',
    from: fromOf(event),
    body: typeof event.body === 'string' ? event.body : '',
    ts: event.ts || 0,
    clientMsgId: event.client_msg_id || '',
    data: event.data && typeof event.data === 'object' ? event.data : null,
  };
}

function eventEntry(event) {
  return {
    seq: event.seq,
    kind: 'event',
    event: String(event.event || ''),
    from: fromOf(event),
    ts: event.ts || 0,
    data: event.data && typeof event.data === 'object' ? event.data : {},
  };
}

function addMessage(state, event) {
  const entry = messageEntry(event);
  const next = withConversation(state, event.conversation_id, (conv) => {
    const entries = insertEntry(conv.entries, entry);
    if (entries === conv.entries) return conv;
    return { ...conv, entries, typing: entry.from.role === 'visitor' ? conv.typing : false };
  });
  const pending = dropPending(next.pending, entry.clientMsgId);
  return pending === next.pending ? next : { ...next, pending };
}

function addEvent(state, event) {
  const entry = eventEntry(event);
  return withConversation(state, event.conversation_id, (conv) => {
    const entries = insertEntry(conv.entries, entry);
    if (entries === conv.entries) return conv;
    const data = entry.data;
    let next = { ...conv, entries };
    const newState = stateAfterEvent(entry.event, data);
    const meta = { state: newState };
    if (entry.event === 'assigned' || entry.event === 'transferred') {
      const agent = data.agent_id || data.to_agent;
      if (agent) meta.agent_id = agent;
      else if (data.to_skill) meta.agent_id = '';
      if (data.agent_name) meta.agent_name = data.agent_name;
    }
    if (entry.event === 'requeued') meta.agent_id = '';
    next = applyMeta(next, meta);
    if (newState === 'closed') next.typing = false;
    return next;
  });
}

/** Entries read over HTTP (`GET /conversations/{id}/messages`), in the store's shape or as frames. */
function historyEntry(raw) {
  if (!raw || !Number.isInteger(raw.seq)) return null;
  const kind = raw.kind || raw.type;
  const from = raw.from || { role: raw.sender_role, id: raw.sender_id };
  if (kind === 'message') return messageEntry({ ...raw, from });
  if (kind === 'event') return eventEntry({ ...raw, from, event: raw.event || raw.body });
  return null;
}

// ---- handlers ----------------------------------------------------------------

const handlers = {
  connection: (state, e) => ({
    ...state,
    connection: e.status,
    error: e.status === 'stopped' ? e.error || null : e.status === 'online' ? null : state.error,
  }),

  welcome: (state, e) => {
    let next = state;
    if (state.visitorId && e.visitor_id && e.visitor_id !== state.visitorId) {
      next = { ...next, order: [], conversations: {}, current: '', rated: {} };
    }
    next = { ...next, visitorId: e.visitor_id || next.visitorId, onDuty: e.on_duty !== false };
    for (const meta of Array.isArray(e.conversations) ? e.conversations : []) {
      if (meta && meta.conversation_id) next = withConversation(next, meta.conversation_id, (conv) => applyMeta({ ...conv, synced: false }, meta));
    }
    return next;
  },

  conversation: (state, e) => {
    const meta = e.conversation;
    if (!meta || !meta.conversation_id) return state;
    return withConversation(state, meta.conversation_id, (conv) => applyMeta(conv, meta));
  },

  message: addMessage,
  event: addEvent,

  ack: (state, e) => {
    const item = state.pending.find((p) => p.clientMsgId === e.client_msg_id);
    if (!item) return state;
    const next = withConversation(state, e.conversation_id, (conv) => {
      const entries = insertEntry(conv.entries, {
        seq: e.seq,
        kind: 'message',
        from: { role: 'visitor', id: state.visitorId },
        body: item.body,
        ts: e.ts || item.ts,
        clientMsgId: item.clientMsgId,
        data: null,
      });
      return entries === conv.entries ? conv : { ...conv, entries };
    });
    return { ...next, pending: dropPending(next.pending, e.client_msg_id) };
  },

  synced: (state, e) => withConversation(state, e.conversation_id, (conv) => (conv.synced ? conv : { ...conv, synced: true })),

  // The server's history of the conversation changed: drop what is shown; the whole log follows.
  resync: (state, e) => withConversation(state, e.conversation_id, (conv) => ({
    ...conv, entries: [], gaps: [], synced: false, peerReadSeq: 0,
  })),

  replay_gap: (state, e) => withConversation(state, e.conversation_id, (conv) => {
    if (conv.gaps.some((g) => g.first_seq === e.first_seq)) return conv;
    return { ...conv, gaps: conv.gaps.concat({ after_seq: e.after_seq, first_seq: e.first_seq }) };
  }),

  queue: (state, e) => withConversation(state, e.conversation_id, (conv) => ({
    ...conv,
    queue: { position: e.position, length: e.length, eta_seconds: e.eta_seconds },
  })),

  typing: (state, e) => {
    if (fromOf(e).role === 'visitor' || !state.conversations[e.conversation_id]) return state;
    return withConversation(state, e.conversation_id, (conv) => (conv.typing === !!e.active ? conv : { ...conv, typing: !!e.active }));
  },

  typing_timeout: (state, e) => {
    if (!state.conversations[e.conversation_id]) return state;
    return withConversation(state, e.conversation_id, (conv) => (conv.typing ? { ...conv, typing: false } : conv));
  },

  read: (state, e) => {
    if (fromOf(e).role === 'visitor' || !state.conversations[e.conversation_id]) return state;
    return withConversation(state, e.conversation_id, (conv) => (e.seq > conv.peerReadSeq ? { ...conv, peerReadSeq: e.seq } : conv));
  },

  presence: (state, e) => {
    if (!state.conversations[e.conversation_id]) return state;
    return withConversation(state, e.conversation_id, (conv) => ({ ...conv, agentOnline: !!e.online }));
  },

  // Questions the bot suggests while the visitor types: items {entry_id, text}
  // (docs/protocol.md); {id, question} is accepted too.
  suggestions: (state, e) => ({
    ...state,
    suggestions: (Array.isArray(e.items) ? e.items : [])
      .map((item) => item && { id: item.entry_id ?? item.id, question: item.text ?? item.question })
      .filter((item) => item && typeof item.question === 'string' && item.question)
      .slice(0, 8)
      .map((item) => ({ id: String(item.id ?? item.question), question: item.question })),
  }),

  outgoing: (state, e) => ({
    ...state,
    suggestions: [],
    pending: state.pending.concat({
      clientMsgId: e.client_msg_id,
      conversationId: e.conversation_id || '',
      body: e.body,
      ts: e.ts,
      status: 'sending',
    }),
  }),

  send_failed: (state, e) => ({
    ...state,
    pending: state.pending.map((p) => (p.clientMsgId === e.client_msg_id ? { ...p, status: 'failed', code: e.code || '' } : p)),
  }),

  discard: (state, e) => ({ ...state, pending: dropPending(state.pending, e.client_msg_id) }),

  history: (state, e) => withConversation(state, e.conversation_id, (conv) => {
    let entries = conv.entries;
    for (const raw of Array.isArray(e.entries) ? e.entries : []) {
      const entry = historyEntry(raw);
      if (entry) entries = insertEntry(entries, entry);
    }
    return entries === conv.entries ? conv : { ...conv, entries };
  }),

  rated: (state, e) => {
    const ids = e.conversation_ids || [e.conversation_id];
    const rated = { ...state.rated };
    for (const id of ids) if (id) rated[id] = true;
    return { ...state, rated };
  },

  error: (state, e) => (e.code === 'offline' ? { ...state, onDuty: false } : state),

  reset: (state) => ({ ...initialState(), connection: state.connection }),
};

// ---- selectors ----------------------------------------------------------------

export function currentConversation(state) {
  return state.current ? state.conversations[state.current] : null;
}

/** Messages from agents or the bot after the visitor's read marks ({id: seq}). */
export function unreadCount(state, readMarks) {
  let n = 0;
  for (const id of state.order) {
    const mark = (readMarks && readMarks[id]) || 0;
    for (const entry of state.conversations[id].entries) {
      if (entry.kind === 'message' && entry.seq > mark && entry.from.role !== 'visitor') n++;
    }
  }
  return n;
}

/** Newest seq per conversation: what the visitor has seen once the panel shows it. */
export function latestSeqs(state) {
  const out = {};
  for (const id of state.order) {
    const entries = state.conversations[id].entries;
    if (entries.length) out[id] = entries[entries.length - 1].seq;
  }
  return out;
}

/** True when the newest conversation was closed after an agent took it, and is not rated yet. */
export function needsRating(state) {
  const conv = currentConversation(state);
  return !!conv && conv.state === 'closed' && conv.everAssigned && !state.rated[conv.id];
}

/**
 * Everything the message list shows, in order, with stable keys:
 * entries of every conversation (a gap marker where history was trimmed), then
 * the messages still on their way.
 */
export function timeline(state) {
  const items = [];
  for (const id of state.order) {
    const conv = state.conversations[id];
    const gaps = conv.gaps.slice().sort((a, b) => a.first_seq - b.first_seq);
    let g = 0;
    for (const entry of conv.entries) {
      while (g < gaps.length && gaps[g].first_seq <= entry.seq) {
        items.push({ key: `${id}:gap:${gaps[g].first_seq}`, kind: 'gap', conversationId: id, gap: gaps[g] });
        g++;
      }
      items.push({ key: `${id}:${entry.seq}`, conversationId: id, ...entry });
    }
    for (; g < gaps.length; g++) items.push({ key: `${id}:gap:${gaps[g].first_seq}`, kind: 'gap', conversationId: id, gap: gaps[g] });
  }
  for (const p of state.pending) {
    items.push({ key: `p:${p.clientMsgId}`, kind: 'pending', conversationId: p.conversationId, ...p });
  }
  return items;
}
