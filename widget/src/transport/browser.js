/**
 * Browser transport: the only module of the web build that touches WebSocket.
 * It also wakes the client when the network or the tab comes back, because
 * mobile browsers freeze background tabs and their sockets die silently.
 */

export function browserTransport(win = typeof window !== 'undefined' ? window : undefined) {
  return {
    connect(url, protocols, handlers) {
      const ws = protocols.length ? new win.WebSocket(url, protocols) : new win.WebSocket(url);
      ws.binaryType = 'arraybuffer';
      ws.onopen = () => handlers.open();
      ws.onmessage = (event) => handlers.message(event.data);
      ws.onclose = (event) => handlers.close(event.code, event.reason);
      ws.onerror = () => {}; // a close event always follows
      return {
        send: (data) => ws.send(data),
        close: (code, reason) => ws.close(code, reason),
      };
    },

    watch(wake) {
      const doc = win.document;
      const onOnline = () => wake('online');
      const onVisible = () => {
        if (!doc || doc.visibilityState === 'visible') wake('visible');
      };
      const onPageShow = (event) => {
        if (event.persisted) wake('pageshow');
      };
      win.addEventListener('online', onOnline);
      win.addEventListener('pageshow', onPageShow);
      if (doc) doc.addEventListener('visibilitychange', onVisible);
      return () => {
        win.removeEventListener('online', onOnline);
        win.removeEventListener('pageshow', onPageShow);
        if (doc) doc.removeEventListener('visibilitychange', onVisible);
      };
    },
  };
}

/** localStorage when it works (it throws in some private modes), else null. */
export function browserStorage(win = typeof window !== 'undefined' ? window : undefined) {
  try {
    const storage = win.localStorage;
    const probe = '__chatd__';
    storage.setItem(probe, '1');
    storage.removeItem(probe);
    return storage;
  } catch (_) {
    return null;
  }
}
