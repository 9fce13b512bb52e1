/**
 * The agent's side of the delivery contract (docs/protocol.md), as the widget keeps it:
 * - `hello` carries `resume`: the last seq seen per conversation, with its log epoch;
 * - `resync` makes it forget a conversation's seq (the server's history of it
 *   changed); an entry of an unexpected epoch makes it reconnect to be resynced;
 * - entries (`message`, `note`, `event`) whose seq was already seen are dropped,
 *   so listeners get each entry once, in order;
 * - messages stay in the outbox (persisted in localStorage) until acknowledged and
 *   are resent with the same `client_msg_id` after every `welcome`;
 * - reconnects wait a full-jitter backoff (or a random delay after close 1012), and
 *   a heartbeat `ping` detects dead sockets.
 *
 * `backoff()` is pure; `AgentSocket` is the one place that touches `WebSocket`.
 */

const FATAL = new Set(['unauthorized', 'token_expired', 'token_revoked']);
const DROP_SEND = new Set(['conversation_closed', 'forbidden', 'unknown_conversation', 'bad_request', 'frame_too_large']);

/** Full jitter: a random delay in [0, min(cap, base * 2^attempt)) milliseconds. */
export function backoff(attempt, random = Math.random, base = 500, cap = 15000) {
  return Math.floor(random() * Math.min(cap, base * 2 ** Math.min(attempt, 20)));
}

export class AgentSocket {
  constructor({ url, token, agentId, storage = window.localStorage, status = 'online' }) {
    this.url = url;
    this.token = token;
    this.status = status;
    this.connection = 'idle';
    this.lastSeq = new Map();
    this.epochs = new Map(); // conversation -> the log epoch lastSeq belongs to
    this.outboxKey = `chatd.console.outbox.${agentId}`;
    this.storage = storage;
    this.outbox = new Map(Object.entries(this._load()));
    this.listeners = new Set();
    this.attempt = 0;
    this.ws = null;
    this.wanted = false;
    this.timers = {};
    this.heartbeatMs = 25000;
    this.counter = 0;
    this.lastInbound = Date.now();
    this.onOnline = () => this.wake();
    window.addEventListener('online', this.onOnline);
  }

  on(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  emit(frame) {
    for (const fn of [...this.listeners]) fn(frame);
  }

  connect() {
    this.wanted = true;
    if (this.connection === 'idle' || this.connection === 'stopped' || this.connection === 'waiting') this._open();
  }

  stop() {
    this.wanted = false;
    window.removeEventListener('online', this.onOnline);
    this._clearTimers();
    if (this.ws) this.ws.close(1000);
    this.ws = null;
    this._setConnection('stopped');
  }

  /** Test and debugging hook: cut the socket as a lost network would. */
  drop() {
    if (this.ws) this.ws.close(4000, 'dropped');
  }

  wake() {
    if (this.wanted && this.connection === 'waiting') this._open();
  }

  _setConnection(connection, extra = {}) {
    this.connection = connection;
    this.emit({ type: '_connection', connection, ...extra });
  }

  _clearTimers() {
    for (const id of Object.values(this.timers)) clearTimeout(id);
    this.timers = {};
  }

  _open() {
    this._clearTimers();
    this._setConnection('connecting');
    let ws;
    try {
      ws = new WebSocket(this.url, ['chatd.v1.json']);
    } catch {
      this._retry();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      const resume = {};
      for (const [id, seq] of this.lastSeq) {
        const epoch = this.epochs.get(id);
        resume[id] = epoch ? { seq, epoch } : seq;
      }
      this._raw({ type: 'hello', token: this.token, resume, status: this.status });
    };
    ws.onmessage = (message) => {
      if (ws !== this.ws) return;
      this.lastInbound = Date.now();
      let frame;
      try {
        frame = JSON.parse(message.data);
      } catch {
        return;
      }
      this._frame(frame);
    };
    ws.onclose = (event) => {
      if (ws !== this.ws) return;
      this.ws = null;
      this._clearTimers();
      if (!this.wanted) return;
      if (event.code === 4001) {
        this.wanted = false;
        this._setConnection('stopped', { code: event.code });
        this.emit({ type: '_unauthorized' });
        return;
      }
      this._retry(event.code);
    };
  }

  _retry(code) {
    const delay = code === 1012 ? Math.floor(Math.random() * 5000) : backoff(this.attempt);
    this.attempt += 1;
    this._setConnection('waiting', { delay, code });
    this.timers.retry = setTimeout(() => this._open(), delay);
  }

  _heartbeat() {
    clearTimeout(this.timers.ping);
    this.timers.ping = setTimeout(() => {
      if (!this.ws) return;
      if (Date.now() - this.lastInbound > this.heartbeatMs * 2) {
        this.drop();
        return;
      }
      this._raw({ type: 'ping', ts: Date.now() / 1000 });
      this._heartbeat();
    }, this.heartbeatMs);
  }

  _frame(frame) {
    switch (frame.type) {
      case 'welcome':
        for (const conversation of frame.conversations || []) {
          if (conversation.epoch && !this.epochs.get(conversation.conversation_id)) {
            this.epochs.set(conversation.conversation_id, conversation.epoch);
          }
        }
        this.attempt = 0;
        this.heartbeatMs = Math.max(5, frame.heartbeat_seconds || 25) * 1000;
        this._setConnection('online');
        this._heartbeat();
        this.emit(frame);
        for (const [clientMsgId, item] of this.outbox) this._sendItem(clientMsgId, item);
        return;
      case 'resync':
        this.lastSeq.set(frame.conversation_id, 0);
        this.epochs.set(frame.conversation_id, frame.epoch || '');
        this.emit(frame);
        return;
      case 'synced':
        if (frame.epoch) this.epochs.set(frame.conversation_id, frame.epoch);
        this.emit(frame);
        return;
      case 'message':
      case 'note':
      case 'event': {
        const known = this.epochs.get(frame.conversation_id);
        if (frame.epoch && known && frame.epoch !== known) {
          this.drop(); // seqs of another epoch do not compare: reconnect and be resynced
          return;
        }
        if (frame.epoch) this.epochs.set(frame.conversation_id, frame.epoch);
        const last = this.lastSeq.get(frame.conversation_id) || 0;
        if (frame.seq <= last) return; // already seen (a replay after a reconnect)
        this.lastSeq.set(frame.conversation_id, frame.seq);
        if (frame.from && frame.from.role === 'agent' && frame.client_msg_id && this.outbox.delete(frame.client_msg_id)) {
          this._save();
        }
        this.emit(frame);
        return;
      }
      case 'ack':
        if (this.outbox.delete(frame.client_msg_id)) this._save();
        this.emit(frame);
        return;
      case 'error':
        if (FATAL.has(frame.code)) {
          this.wanted = false;
          this.emit({ type: '_unauthorized', code: frame.code });
        }
        if (frame.ref && frame.ref.startsWith('send:') && DROP_SEND.has(frame.code)) {
          const clientMsgId = frame.ref.slice(5);
          if (this.outbox.delete(clientMsgId)) this._save();
          this.emit({ type: '_send_failed', client_msg_id: clientMsgId, code: frame.code, message: frame.message });
        }
        this.emit(frame);
        return;
      default:
        this.emit(frame);
    }
  }

  _raw(frame) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  /** A frame that only makes sense now (typing, read, accept...): sent when online, else dropped. */
  sendFrame(frame) {
    return this.connection === 'online' && this._raw(frame);
  }

  /** Queue a message or internal note; returns its client_msg_id. Survives reconnects and reloads. */
  sendMessage(conversationId, body, internal = false) {
    this.counter += 1;
    const clientMsgId = `a-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}-${this.counter}`;
    const item = { conversation_id: conversationId, body, internal, ts: Date.now() / 1000 };
    this.outbox.set(clientMsgId, item);
    this._save();
    if (this.connection === 'online') this._sendItem(clientMsgId, item);
    return clientMsgId;
  }

  pending(conversationId) {
    return [...this.outbox].filter(([, item]) => item.conversation_id === conversationId)
      .map(([clientMsgId, item]) => ({ client_msg_id: clientMsgId, ...item }));
  }

  _sendItem(clientMsgId, item) {
    const frame = { type: 'send', conversation_id: item.conversation_id, client_msg_id: clientMsgId, body: item.body,
      ref: `send:${clientMsgId}` };
    if (item.internal) frame.internal = true;
    this._raw(frame);
  }

  _load() {
    try {
      return JSON.parse(this.storage.getItem(this.outboxKey) || '{}') || {};
    } catch {
      return {};
    }
  }

  _save() {
    try {
      this.storage.setItem(this.outboxKey, JSON.stringify(Object.fromEntries(this.outbox)));
    } catch {
      // storage full or disabled: the outbox still lives in memory
    }
  }
}
