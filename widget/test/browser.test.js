import { test } from 'node:test';
import assert from 'node:assert/strict';

import { browserStorage, browserTransport } from '../src/transport/browser.js';
import { createClient } from '../src/core/client.js';
import { FakeTimers, WELCOME } from './fakes.js';

/** A window with a fake WebSocket, event listeners and localStorage. */
function fakeWindow({ storageThrows = false } = {}) {
  const sockets = [];
  const listeners = {};
  const docListeners = {};
  class FakeWebSocket {
    constructor(url, protocols) {
      this.url = url;
      this.protocols = protocols;
      this.sent = [];
      this.closedWith = null;
      sockets.push(this);
    }
    send(data) { this.sent.push(data); }
    close(code, reason) { this.closedWith = { code, reason }; }
  }
  const store = new Map();
  const win = {
    WebSocket: FakeWebSocket,
    sockets,
    document: {
      visibilityState: 'visible',
      addEventListener: (name, fn) => { (docListeners[name] ||= []).push(fn); },
      removeEventListener: (name, fn) => { docListeners[name] = (docListeners[name] || []).filter((f) => f !== fn); },
    },
    addEventListener: (name, fn) => { (listeners[name] ||= []).push(fn); },
    removeEventListener: (name, fn) => { listeners[name] = (listeners[name] || []).filter((f) => f !== fn); },
    fire: (name, event = {}) => { for (const fn of listeners[name] || []) fn(event); },
    fireDocument: (name) => { for (const fn of docListeners[name] || []) fn({}); },
    listenerCount: () => Object.values(listeners).flat().length + Object.values(docListeners).flat().length,
  };
  Object.defineProperty(win, 'localStorage', {
    get() {
      if (storageThrows) throw new Error('SecurityError');
      return {
        getItem: (k) => (store.has(k) ? store.get(k) : null),
        setItem: (k, v) => store.set(k, String(v)),
        removeItem: (k) => store.delete(k),
      };
    },
  });
  return win;
}

test('the browser transport drives a WebSocket with binaryType arraybuffer', () => {
  const win = fakeWindow();
  const client = createClient({ url: 'wss://x/ws/visitor?site=demo', site: 'demo', transport: browserTransport(win), timers: new FakeTimers() });
  client.connect();
  const ws = win.sockets[0];
  assert.equal(ws.url, 'wss://x/ws/visitor?site=demo');
  assert.equal(ws.protocols, undefined, 'JSON offers no subprotocol');
  assert.equal(ws.binaryType, 'arraybuffer');
  ws.onopen();
  assert.deepEqual(JSON.parse(ws.sent[0]), { type: 'hello', site: 'demo' });
  ws.onmessage({ data: JSON.stringify(WELCOME) });
  assert.equal(client.status, 'online');
  ws.onclose({ code: 1006, reason: '' });
  assert.equal(client.status, 'waiting');
});

test('online, visible tab and a page restored from the back/forward cache wake the client', () => {
  const win = fakeWindow();
  const woken = [];
  const unwatch = browserTransport(win).watch((reason) => woken.push(reason));
  win.fire('online');
  win.document.visibilityState = 'hidden';
  win.fireDocument('visibilitychange');
  win.document.visibilityState = 'visible';
  win.fireDocument('visibilitychange');
  win.fire('pageshow', { persisted: false });
  win.fire('pageshow', { persisted: true });
  assert.deepEqual(woken, ['online', 'visible', 'pageshow']);
  unwatch();
  assert.equal(win.listenerCount(), 0);
});

test('browserStorage is localStorage when usable, null when it throws', () => {
  const storage = browserStorage(fakeWindow());
  storage.setItem('a', 'b');
  assert.equal(storage.getItem('a'), 'b');
  assert.equal(browserStorage(fakeWindow({ storageThrows: true })), null);
});
