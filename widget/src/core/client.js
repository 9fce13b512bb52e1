/**
 * The visitor client: one chatd session over an injected transport.
 *
 * It owns the delivery contract of docs/protocol.md on the client side:
 * - `hello` carries the stored visitor token, the identity token and the last
 *   seen seq of every conversation with its log epoch (`resume`);
 * - a `resync` makes it forget a conversation's seq (its history changed on
 *   the server); an entry of an unexpected epoch makes it reconnect;
 * - every entry (`message`/`event`) whose seq was already seen is dropped, so
 *   listeners see each entry once, in order;
 * - unacknowledged messages stay in the outbox (persisted) and are resent with
 *   the same `client_msg_id` after every `welcome`;
 * - reconnects wait `backoff()` (full jitter), or a random drain delay after
 *   close 1012; a heartbeat `ping` every `heartbeat_seconds` detects dead sockets.
 *
 * No DOM and no globals: the socket, storage, timers, clock and randomness are
 * all injected, which is how the tests drive it with a fake socket.
 *
 * Transport contract (see src/transport/*.js):
 *     transport.connect(url, protocols, { open(), message(data), close(code, reason) })
 *         -> { send(data), close(code, reason) }
 *     transport.watch?(wake) -> unwatch   // calls wake() when the app or network comes back
 * Handlers must not be called synchronously from connect().
 *
 * Events (`client.on(type, fn)`, or `'*'` for all): every server frame by its
 * type (entries only once), plus local ones:
 *     connection {status, code?, delay?, error?}   status: idle|connecting|online|waiting|stopped
 *     outgoing {conversation_id, client_msg_id, body, ts}   a message entered the outbox
 *     send_failed {conversation_id, client_msg_id, code, message}   refused for good
 *     reset {}
 */

import { backoff as computeBackoff, drainDelay, DEFAULT_BACKOFF } from './backoff.js';
import { CLOSE, MAX_BODY_CHARS, codePoints, codecs, decodeFrame, frames, isEntry, stateAfterEvent } from './protocol.js';
import { Outbox } from './outbox.js';
import { EpochMismatch, SeqTracker } from './seqs.js';
import { memoryStorage, namespacedStore, storagePrefix } from './storage.js';

const FATAL_CODES = new Set(['unknown_site', 'origin_not_allowed', 'unauthorized', 'token_expired']);
// Refusals of a `send` that a later resend would only repeat.
const RETRY_SEND_CODES = new Set(['rate_limited', 'internal_error', 'unavailable']);

const defaultTimers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (id) => clearTimeout(id),
};

export function createClient(options) {
  return new Client(options);
}

export class Client {
  constructor({
    url,
    site,
    transport,
    storage = memoryStorage(),
    codec = 'json',
    identity = '',
    name = '',
    attributes = {},
    backoff = DEFAULT_BACKOFF,
    drainDelayMax = 5000,
    helloTimeout = 10000,
    wakeTimeout = 5000,
    timers = defaultTimers,
    random = Math.random,
    now = Date.now,
  }) {
    if (!url || !site || !transport) throw new TypeError('createClient: url, site and transport are required');
    if (!codecs[codec]) throw new TypeError(`createClient: unknown codec ${codec}`);
    this.url = url;
    this.site = site;
    this.transport = transport;
    this.codec = codecs[codec];
    this.store = namespacedStore(storage, storagePrefix(site));
    this.outbox = new Outbox(this.store);
    this.seqs = new SeqTracker();
    this.token = this.store.get('token', '') || '';
    this.visitorId = this.store.get('visitor', '') || '';
    this.identity = identity || '';
    this.name = name || '';
    this.attributes = { ...attributes };
    this.backoffOptions = { base: backoff.base ?? DEFAULT_BACKOFF.base, cap: backoff.cap ?? DEFAULT_BACKOFF.cap };
    this.drainDelayMax = drainDelayMax;
    this.helloTimeout = helloTimeout;
    this.wakeTimeout = wakeTimeout;
    this.timers = timers;
    this.random = random;
    this.now = now;

    /** Conversations this visitor takes part in: id -> {conversation_id, state, agent_id, skill, last_seq}. */
    this.conversations = new Map();
    this.status = 'idle';
    this.attempt = 0;
    this.heartbeatMs = 25000;
    this.stoppedError = null;

    this._listeners = new Map();
    this._socket = null;
    this._gen = 0;
    this._timers = Object.create(null);
    this._wanted = false;
    this._unwatch = null;
    this._lastError = null;
    this._startRef = '';
    this._deferred = [];
    this._inboundSincePing = true;
    this._counter = 0;
  }

  // ---- events --------------------------------------------------------------

  /** Listen to events of `type` ('*' for all). Returns a function that unsubscribes. */
  on(type, fn) {
    if (!this._listeners.has(type)) this._listeners.set(type, new Set());
    this._listeners.get(type).add(fn);
    return () => this._listeners.get(type).delete(fn);
  }

  _emit(event) {
    for (const key of [event.type, '*']) {
      const set = this._listeners.get(key);
      if (set) for (const fn of [...set]) fn(event);
    }
  }

  _setStatus(status, extra) {
    this.status = status;
    this._emit({ type: 'connection', status, ...extra });
  }

  // ---- public API ----------------------------------------------------------

  /** Open the session (idempotent) and keep it open, reconnecting as needed, until `disconnect()`. */
  connect() {
    this._wanted = true;
    if (!this._unwatch && typeof this.transport.watch === 'function') {
      this._unwatch = this.transport.watch((reason) => this.wake(reason)) || null;
    }
    if (this.status === 'idle' || this.status === 'stopped') this._open();
  }

  /** Close the session on purpose; no reconnect until `connect()`. The outbox is kept. */
  disconnect() {
    this._wanted = false;
    if (this._unwatch) {
      this._unwatch();
      this._unwatch = null;
    }
    const socket = this._socket;
    this._closed(this._gen, CLOSE.NORMAL, 'client');
    if (socket) safeClose(socket, CLOSE.NORMAL, 'client');
  }

  /**
   * The app or network came back (onAppShow, `online`, visibility): reconnect now
   * if waiting; if connected, check the socket with a ping and drop it when no
   * frame arrives within `wakeTimeout`.
   */
  wake() {
    if (!this._wanted) return;
    if (this.status === 'waiting') {
      this._open();
    } else if (this.status === 'online') {
      const gen = this._gen;
      this._inboundSincePing = false;
      this._sendFrame(frames.ping(this.now()));
      this._setTimer('wake', () => {
        if (gen === this._gen && !this._inboundSincePing) this._drop(gen, CLOSE.CLIENT_TIMEOUT, 'wake timeout');
      }, this.wakeTimeout);
    }
  }

  /** Use a server-signed identity token (protocol `identity`); reconnects when it changes. */
  identify(identity) {
    const value = identity || '';
    if (value === this.identity) return;
    this.identity = value;
    if (this._wanted) this._restart();
  }

  /** The visitor's display name, sent in the next `hello`. */
  setName(name) {
    this.name = name || '';
  }

  /** Visitor attributes (host page data, pre-chat answers) sent with the next `start`. */
  setAttributes(attributes) {
    this.attributes = { ...attributes };
  }

  /**
   * Queue a message. It is sent to `conversationId`, or the visitor's open
   * conversation, or a new one (`start`) when there is none. Connects if needed.
   * Returns its `client_msg_id`. Throws RangeError for an empty or too long body.
   */
  send(body, conversationId) {
    const text = String(body ?? '');
    const n = codePoints(text);
    if (n < 1 || n > MAX_BODY_CHARS) throw new RangeError(`body must be 1-${MAX_BODY_CHARS} characters`);
    const item = {
      client_msg_id: this._newId('m'),
      conversation_id: conversationId || this.currentConversationId() || null,
      body: text,
      ts: this.now() / 1000,
    };
    this.outbox.add(item);
    this._emit({ type: 'outgoing', ...item });
    if (!this._wanted) this.connect();
    else this._flush();
    return item.client_msg_id;
  }

  /**
   * Ask for a conversation (protocol `start`), with `attributes` on top of
   * setAttributes(); a no-op when one is open. `send()` starts one by itself.
   */
  start({ skill, attributes } = {}) {
    this.outbox.setPendingStart({ skill, attributes });
    if (!this._wanted) this.connect();
    else this._flush();
  }

  /** Best effort: dropped when offline. */
  typing(conversationId, active) {
    if (this.status === 'online' && conversationId) this._sendFrame(frames.typing(conversationId, active));
  }

  /** Ask the bot for questions matching the visitor's draft (answered by `suggestions`). Best effort. */
  suggest(text) {
    if (this.status === 'online' && String(text).trim()) this._sendFrame(frames.suggest(text));
  }

  /** Tell the other side the visitor has read up to `seq`; sent after reconnect if offline. */
  read(conversationId, seq) {
    this._sendOrDefer(frames.read(conversationId, seq), (f) => f.type === 'read' && f.conversation_id === conversationId);
  }

  /** End the conversation (protocol `close`). */
  closeConversation(conversationId) {
    this._sendOrDefer(frames.close(conversationId));
  }

  /**
   * Satisfaction rating 1-5 with an optional comment, after a conversation is
   * closed; the server answers `rated` (or an `error` with the ref). Returns its ref.
   */
  rate(conversationId, score, comment = '') {
    if (!Number.isInteger(score) || score < 1 || score > 5) throw new RangeError('score must be an integer 1-5');
    const ref = this._newId('r');
    this._sendOrDefer(frames.rate({ conversation_id: conversationId, score, comment: String(comment).slice(0, 1000), ref }));
    return ref;
  }

  /** Logout: forget the visitor token, outbox, seqs and conversations, and disconnect. */
  reset() {
    this.disconnect();
    this.outbox.clear();
    this.seqs.clear();
    this.conversations.clear();
    this._deferred = [];
    this.token = '';
    this.visitorId = '';
    this.identity = '';
    this.name = '';
    this.attributes = {};
    this.stoppedError = null;
    this.store.remove('token');
    this.store.remove('visitor');
    this._emit({ type: 'reset' });
  }

  /** The conversation new messages go to: the newest one that is not closed, or ''. */
  currentConversationId() {
    let current = '';
    for (const [id, conv] of this.conversations) if (conv.state !== 'closed') current = id;
    return current;
  }

  // ---- connection ----------------------------------------------------------

  _open() {
    this._clearTimer('retry');
    const gen = ++this._gen;
    this._setStatus('connecting');
    const protocols = this.codec.subprotocol ? [this.codec.subprotocol] : [];
    try {
      this._socket = this.transport.connect(this.url, protocols, {
        open: () => gen === this._gen && this._onOpen(),
        message: (data) => gen === this._gen && this._onData(data),
        close: (code, reason) => this._closed(gen, code, reason),
      });
    } catch (err) {
      this._closed(gen, 1006, String(err && err.message ? err.message : err));
      return;
    }
    this._setTimer('hello', () => this._drop(gen, CLOSE.CLIENT_TIMEOUT, 'hello timeout'), this.helloTimeout);
  }

  /** Reconnect right away (identity changed): the old socket's late events are ignored. */
  _restart() {
    const socket = this._socket;
    this._gen++;
    this._socket = null;
    this._clearAllTimers();
    if (socket) safeClose(socket, CLOSE.NORMAL, 'reconnect');
    this.attempt = 0;
    this._open();
  }

  _onOpen() {
    this._startRef = '';
    this._sendFrame(frames.hello({
      site: this.site,
      token: this.token,
      identity: this.identity,
      name: this.name,
      resume: this.seqs.resume(),
    }));
  }

  /** Give up on the current socket now (dead heartbeat, timeouts) instead of waiting for its close. */
  _drop(gen, code, reason) {
    if (gen !== this._gen) return;
    const socket = this._socket;
    this._closed(gen, code, reason);
    if (socket) safeClose(socket, code, reason);
  }

  _closed(gen, code, reason) {
    if (gen !== this._gen) return;
    this._gen++; // late events from this socket are now stale
    this._socket = null;
    this._clearAllTimers();
    this._startRef = '';
    if (!this._wanted) {
      if (this.status !== 'idle') this._setStatus('idle', { code });
      return;
    }
    const error = this._lastError;
    this._lastError = null;
    const errorCode = error ? error.code : '';
    if (code === CLOSE.ORIGIN || errorCode === 'origin_not_allowed' || errorCode === 'unknown_site') {
      this._stop(error || { code: 'origin_not_allowed', message: reason });
      return;
    }
    if (code === CLOSE.AUTH || errorCode === 'unauthorized' || errorCode === 'token_expired') {
      if (!this.identity && this.token) {
        // A stored visitor token the server refuses (e.g. signed for another
        // site): forget it and come back as a new anonymous visitor.
        this.token = '';
        this.store.remove('token');
      } else {
        // A bad or expired identity: the host page must call identify() again.
        this._stop(error || { code: 'unauthorized', message: reason });
        return;
      }
    }
    const delay = code === CLOSE.DRAINING
      ? drainDelay(this.drainDelayMax, this.random)
      : computeBackoff(this.attempt++, { ...this.backoffOptions, random: this.random });
    this._setStatus('waiting', { code, delay });
    this._setTimer('retry', () => this._open(), delay);
  }

  _stop(error) {
    this.stoppedError = error;
    this._setStatus('stopped', { error });
  }

  // ---- inbound -------------------------------------------------------------

  _onData(data) {
    this._inboundSincePing = true;
    const frame = decodeFrame(data);
    if (!frame) return;
    if (isEntry(frame)) {
      this._onEntry(frame);
      return;
    }
    switch (frame.type) {
      case 'welcome':
        this._onWelcome(frame);
        return;
      case 'conversation':
        this._onConversation(frame);
        return;
      case 'ack':
        this.outbox.remove(frame.client_msg_id);
        break;
      case 'replay_gap':
        // Entries up to first_seq - 1 were trimmed; accept the rest, and let
        // the view say so (and page older history over HTTP if it wants).
        this.seqs.skipTo(frame.conversation_id, frame.first_seq - 1);
        break;
      case 'resync':
        // The conversation's history may have changed (the server lost some):
        // forget its seq; its whole log follows, and the view starts it afresh.
        this.seqs.resync(frame.conversation_id, frame.epoch);
        break;
      case 'synced':
        this.seqs.synced(frame.conversation_id, frame.epoch);
        break;
      case 'error':
        this._onError(frame);
        break;
      default:
        break;
    }
    this._emit(frame);
  }

  _onWelcome(frame) {
    this._clearTimer('hello');
    this.attempt = 0;
    this.stoppedError = null;
    if (frame.token) {
      this.token = frame.token;
      this.store.set('token', frame.token);
    }
    if (frame.visitor_id && frame.visitor_id !== this.visitorId) {
      // A different visitor (identity changed, or the old token was refused):
      // what we tracked belongs to someone else.
      this.seqs.clear();
      this.conversations.clear();
      this.visitorId = frame.visitor_id;
      this.store.set('visitor', frame.visitor_id);
    }
    this.heartbeatMs = Math.max(1, Number(frame.heartbeat_seconds) || 25) * 1000;
    for (const conv of Array.isArray(frame.conversations) ? frame.conversations : []) {
      if (!conv || !conv.conversation_id) continue;
      this.conversations.set(conv.conversation_id, { ...this.conversations.get(conv.conversation_id), ...conv });
      this.seqs.track(conv.conversation_id, conv.epoch);
    }
    this._setStatus('online');
    this._emit(frame);
    this._scheduleHeartbeat();
    const deferred = this._deferred;
    this._deferred = [];
    for (const f of deferred) this._sendFrame(f);
    this._flush();
  }

  _onConversation(frame) {
    const conv = frame.conversation;
    if (conv && conv.conversation_id) {
      this.conversations.set(conv.conversation_id, { ...this.conversations.get(conv.conversation_id), ...conv });
      this.seqs.track(conv.conversation_id);
      if (frame.ref && frame.ref === this._startRef) this._startRef = '';
      if (conv.state !== 'closed' && (this.outbox.pendingStart || this.outbox.unassigned().length)) {
        this.outbox.pendingStart = null;
        this.outbox.assign(conv.conversation_id);
        this.outbox.save();
      }
    }
    this._emit(frame);
    this._flush();
  }

  _onEntry(frame) {
    const id = frame.conversation_id;
    let fresh;
    try {
      fresh = this.seqs.accept(id, frame.seq, frame.epoch || '');
    } catch (err) {
      if (!(err instanceof EpochMismatch)) throw err;
      // Seqs of another epoch do not compare: reconnect, and the server resyncs us.
      this._drop(this._gen, CLOSE.CLIENT_TIMEOUT, 'epoch changed');
      return;
    }
    if (!fresh) return; // seen before a reconnect: drop
    const conv = this.conversations.get(id) || { conversation_id: id, state: '' };
    conv.last_seq = frame.seq;
    if (frame.type === 'event') {
      const state = stateAfterEvent(frame.event, frame.data);
      if (state) conv.state = state;
      if (frame.data && frame.data.agent_id) conv.agent_id = frame.data.agent_id;
    }
    this.conversations.set(id, conv);
    this._emit(frame);
  }

  _onError(frame) {
    if (FATAL_CODES.has(frame.code)) this._lastError = frame;
    const item = frame.ref ? this.outbox.get(frame.ref) : null;
    if (item) {
      if (RETRY_SEND_CODES.has(frame.code)) {
        this._scheduleFlush();
      } else if (frame.code === 'conversation_closed') {
        // Closed while the message was on its way: it goes to a new conversation.
        this._markClosed(item.conversation_id);
        this.outbox.assign(null, item.conversation_id);
        this._flush();
      } else {
        this.outbox.remove(item.client_msg_id);
        this._emit({
          type: 'send_failed',
          conversation_id: item.conversation_id,
          client_msg_id: item.client_msg_id,
          code: frame.code,
          message: frame.message,
        });
      }
    } else if (frame.ref && frame.ref === this._startRef) {
      this._startRef = '';
      if (RETRY_SEND_CODES.has(frame.code)) {
        this._scheduleFlush();
      } else {
        this.outbox.setPendingStart(null);
        for (const failed of this.outbox.unassigned()) {
          this.outbox.remove(failed.client_msg_id);
          this._emit({ type: 'send_failed', conversation_id: null, client_msg_id: failed.client_msg_id, code: frame.code, message: frame.message });
        }
      }
    }
  }

  _markClosed(conversationId) {
    const conv = this.conversations.get(conversationId);
    if (conv) conv.state = 'closed';
  }

  // ---- outbound ------------------------------------------------------------

  /** Send what the outbox owes the server: a `start` if needed, then every unacked message. */
  _flush() {
    if (this.status !== 'online') return;
    for (const item of this.outbox.items) {
      const conv = item.conversation_id && this.conversations.get(item.conversation_id);
      if (conv && conv.state === 'closed') item.conversation_id = null;
    }
    if (this.outbox.pendingStart || this.outbox.unassigned().length) {
      const current = this.currentConversationId();
      if (current) {
        this.outbox.pendingStart = null;
        this.outbox.assign(current);
      } else if (!this._startRef) {
        this._startRef = this._newId('s');
        const request = this.outbox.pendingStart || {};
        const attributes = { ...this.attributes, ...request.attributes };
        this._sendFrame(frames.start({ skill: request.skill, attributes, ref: this._startRef }));
      }
      this.outbox.save();
    }
    for (const item of this.outbox.items) {
      if (item.conversation_id) {
        this._sendFrame(frames.send(item));
      }
    }
  }

  _scheduleFlush() {
    const delay = 1000 + Math.floor(this.random() * 2000);
    this._setTimer('flush', () => this._flush(), delay);
  }

  _sendOrDefer(frame, replaces) {
    if (this.status === 'online' && this._sendFrame(frame)) return;
    if (replaces) this._deferred = this._deferred.filter((f) => !replaces(f));
    this._deferred.push(frame);
  }

  _sendFrame(frame) {
    if (!this._socket) return false;
    try {
      this._socket.send(this.codec.encode(frame));
      return true;
    } catch (_) {
      return false;
    }
  }

  _scheduleHeartbeat() {
    const gen = this._gen;
    this._setTimer('heartbeat', () => {
      if (gen !== this._gen || this.status !== 'online') return;
      if (!this._inboundSincePing) {
        this._drop(gen, CLOSE.CLIENT_TIMEOUT, 'heartbeat timeout');
        return;
      }
      this._inboundSincePing = false;
      this._sendFrame(frames.ping(this.now()));
      this._scheduleHeartbeat();
    }, this.heartbeatMs);
  }

  // ---- helpers -------------------------------------------------------------

  _newId(prefix) {
    this._counter = (this._counter + 1) % 1679616;
    const rand = Math.floor(this.random() * 2 ** 40).toString(36);
    return `${prefix}-${Math.floor(this.now()).toString(36)}-${this._counter.toString(36)}-${rand}`;
  }

  _setTimer(name, fn, ms) {
    this._clearTimer(name);
    this._timers[name] = this.timers.setTimeout(() => {
      delete this._timers[name];
      fn();
    }, ms);
  }

  _clearTimer(name) {
    if (name in this._timers) {
      this.timers.clearTimeout(this._timers[name]);
      delete this._timers[name];
    }
  }

  _clearAllTimers() {
    for (const name of Object.keys(this._timers)) this._clearTimer(name);
  }
}

function safeClose(socket, code, reason) {
  try {
    socket.close(code, reason);
  } catch (_) {
    /* already closed */
  }
}
