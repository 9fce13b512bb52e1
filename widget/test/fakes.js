// Test doubles shared by the test files: a fake socket transport, manual timers
// and a deterministic random source. (This file has no tests of its own.)
import { decode as msgpackDecode } from '../src/core/msgpack.js';

export function decodeSent(data) {
  return typeof data === 'string' ? JSON.parse(data) : msgpackDecode(data);
}

export class FakeSocket {
  constructor(url, protocols, handlers) {
    this.url = url;
    this.protocols = protocols;
    this.handlers = handlers;
    this.raw = [];
    this.closed = null;
  }

  send(data) {
    if (this.closed) throw new Error('socket closed');
    this.raw.push(data);
  }

  close(code, reason) {
    this.closed = { code, reason, by: 'client' };
  }

  /** Frames the client sent, decoded. */
  get sent() {
    return this.raw.map(decodeSent);
  }

  sentOfType(type) {
    return this.sent.filter((frame) => frame.type === type);
  }

  // ---- what the server does ----
  open() {
    this.handlers.open();
  }

  receive(frame) {
    this.handlers.message(JSON.stringify(frame));
  }

  serverClose(code, reason = '') {
    this.closed = { code, reason, by: 'server' };
    this.handlers.close(code, reason);
  }
}

export class FakeTransport {
  constructor() {
    this.sockets = [];
    this.wake = null;
  }

  connect(url, protocols, handlers) {
    const socket = new FakeSocket(url, protocols, handlers);
    this.sockets.push(socket);
    return socket;
  }

  watch(wake) {
    this.wake = wake;
    return () => {
      this.wake = null;
    };
  }

  get last() {
    return this.sockets[this.sockets.length - 1];
  }
}

/** setTimeout/clearTimeout on a manual clock; advance(ms) runs what falls due, in order. */
export class FakeTimers {
  constructor() {
    this.now = 0;
    this.nextId = 0;
    this.queue = [];
    this.setTimeout = (fn, ms) => {
      const id = ++this.nextId;
      this.queue.push({ id, at: this.now + Math.max(0, ms), fn });
      return id;
    };
    this.clearTimeout = (id) => {
      this.queue = this.queue.filter((timer) => timer.id !== id);
    };
  }

  advance(ms) {
    const end = this.now + ms;
    for (;;) {
      let next = null;
      for (const timer of this.queue) if (timer.at <= end && (!next || timer.at < next.at || (timer.at === next.at && timer.id < next.id))) next = timer;
      if (!next) break;
      this.queue = this.queue.filter((timer) => timer !== next);
      this.now = next.at;
      next.fn();
    }
    this.now = end;
  }

  get pending() {
    return this.queue.length;
  }
}

/** A seeded PRNG (mulberry32) so "random" tests are repeatable. */
export function seededRandom(seed = 42) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const WELCOME = {
  type: 'welcome',
  protocol: 1,
  role: 'visitor',
  visitor_id: 'v_1',
  token: 'v1.token',
  node: 'n1',
  heartbeat_seconds: 25,
  max_frame_bytes: 65536,
  conversations: [],
};

export function message(conversationId, seq, body, role = 'agent', extra = {}) {
  return { type: 'message', conversation_id: conversationId, seq, from: { role, id: role === 'visitor' ? 'v_1' : 'ana' }, body, ts: seq, client_msg_id: '', ...extra };
}

export function event(conversationId, seq, name, data = {}) {
  return { type: 'event', conversation_id: conversationId, seq, event: name, from: { role: 'system', id: '' }, ts: seq, data };
}
