/**
 * The mini-program SocketTask transport shared by WeChat (`wx`), uni-app
 * (`uni`), Douyin (`tt`) and Alipay (`my`), whose socket APIs have the same
 * shape (Alipay's once asked for `multiple: true`).
 *
 * One socket per app: mini-programs limit concurrent sockets (older base
 * libraries allow just one), so a new connection first closes the previous
 * SocketTask of this app, whichever client opened it. Create one client in
 * App() and share it (getApp()). The client reconnects when the app comes back
 * to the foreground (`onAppShow`) and when the network returns
 * (`onNetworkStatusChange`); a Page's onShow may also call `client.wake()`.
 */

const liveTasks = new Map(); // platform name -> the one SocketTask of this app

/**
 * @param api the platform object (`wx` or `uni`)
 * @param name its name, for errors and the one-socket rule
 * @param needsCallback pass a `complete` callback: uni.connectSocket returns
 *   a SocketTask only when a success/fail/complete callback is given
 * @param extra more connectSocket options (Alipay: `{ multiple: true }`)
 * @param subprotocols whether the platform can offer a WebSocket subprotocol
 *   (Alipay cannot: the client must use the json codec there)
 */
export function socketTaskTransport(api, name, { needsCallback = false, extra = {}, subprotocols = true } = {}) {
  if (!api || typeof api.connectSocket !== 'function') {
    throw new TypeError(`${name}Transport: ${name}.connectSocket is not available`);
  }
  return {
    connect(url, protocols, handlers) {
      if (protocols.length && !subprotocols) {
        throw new TypeError(`${name}Transport: ${name}.connectSocket offers no subprotocol; use codec 'json'`);
      }
      const old = liveTasks.get(name);
      if (old) {
        liveTasks.delete(name);
        try {
          old.close({ code: 1000, reason: 'replaced' });
        } catch (_) {
          /* already closed */
        }
      }
      let done = false;
      let task = null;
      const release = () => {
        if (liveTasks.get(name) === task) liveTasks.delete(name);
      };
      const finish = (code, reason) => {
        if (done) return;
        done = true;
        release();
        handlers.close(code, reason);
      };
      const options = {
        ...extra,
        url,
        fail: (err) => finish(1006, (err && err.errMsg) || 'connectSocket failed'),
      };
      if (needsCallback) options.complete = () => {};
      if (protocols.length) options.protocols = protocols;
      task = api.connectSocket(options);
      if (!task) throw new Error(`${name}.connectSocket returned no SocketTask`);
      liveTasks.set(name, task);
      task.onOpen(() => {
        if (!done) handlers.open();
      });
      task.onMessage((res) => {
        if (!done) handlers.message(res.data);
      });
      // Some base libraries report a failure with onError and no onClose.
      task.onError((err) => finish(1006, (err && err.errMsg) || 'socket error'));
      task.onClose((res) => finish((res && res.code) || 1006, (res && res.reason) || ''));
      return {
        send(data) {
          task.send({ data });
        },
        close(code, reason) {
          done = true;
          release();
          task.close({ code, reason });
        },
      };
    },

    watch(wake) {
      const onShow = () => wake('app_show');
      const onNetwork = (res) => {
        if (res && res.isConnected) wake('network');
      };
      if (typeof api.onAppShow === 'function') api.onAppShow(onShow);
      if (typeof api.onNetworkStatusChange === 'function') api.onNetworkStatusChange(onNetwork);
      return () => {
        if (typeof api.offAppShow === 'function') api.offAppShow(onShow);
        if (typeof api.offNetworkStatusChange === 'function') api.offNetworkStatusChange(onNetwork);
      };
    },
  };
}

/** The client's storage adapter over the platform's getStorageSync(key) / setStorageSync(key, value). */
export function syncStorage(api) {
  return {
    getItem: (key) => {
      const value = api.getStorageSync(key);
      return value === '' || value === undefined ? null : value;
    },
    setItem: (key, value) => api.setStorageSync(key, value),
    removeItem: (key) => api.removeStorageSync(key),
  };
}

/** The storage adapter for Alipay's getStorageSync({ key }) → { data } / setStorageSync({ key, data }). */
export function objectStorage(api) {
  return {
    getItem: (key) => {
      const result = api.getStorageSync({ key });
      const value = result && result.data;
      return value === '' || value === undefined || value === null ? null : value;
    },
    setItem: (key, value) => api.setStorageSync({ key, data: value }),
    removeItem: (key) => api.removeStorageSync({ key }),
  };
}
