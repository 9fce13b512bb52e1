/**
 * WeChat mini-program transport: the only module that touches
 * `wx.connectSocket` and its SocketTask.
 *
 * One socket per app: mini-programs limit concurrent sockets (older base
 * libraries allow just one), so a new connection first closes the previous
 * SocketTask of this app, whichever client opened it. Create one client in
 * App() and share it (getApp()). The client reconnects when the app comes back
 * to the foreground (`wx.onAppShow`) and when the network returns
 * (`wx.onNetworkStatusChange`); a Page's onShow may also call `client.wake()`.
 */

let liveTask = null; // the one SocketTask of this app

export function wxTransport(api = typeof wx !== 'undefined' ? wx : undefined) {
  if (!api || typeof api.connectSocket !== 'function') throw new TypeError('wxTransport: wx.connectSocket is not available');
  return {
    connect(url, protocols, handlers) {
      if (liveTask) {
        const old = liveTask;
        liveTask = null;
        try {
          old.close({ code: 1000, reason: 'replaced' });
        } catch (_) {
          /* already closed */
        }
      }
      let done = false;
      let task = null;
      const finish = (code, reason) => {
        if (done) return;
        done = true;
        if (liveTask === task) liveTask = null;
        handlers.close(code, reason);
      };
      const options = {
        url,
        fail: (err) => finish(1006, (err && err.errMsg) || 'connectSocket failed'),
      };
      if (protocols.length) options.protocols = protocols;
      task = api.connectSocket(options);
      liveTask = task;
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
          if (liveTask === task) liveTask = null;
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

/** The client's storage adapter over wx.getStorageSync / wx.setStorageSync. */
export function wxStorage(api = typeof wx !== 'undefined' ? wx : undefined) {
  return {
    getItem: (key) => {
      const value = api.getStorageSync(key);
      return value === '' || value === undefined ? null : value;
    },
    setItem: (key, value) => api.setStorageSync(key, value),
    removeItem: (key) => api.removeStorageSync(key),
  };
}
