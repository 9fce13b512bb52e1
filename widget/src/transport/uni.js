/**
 * uni-app transport: the only module that touches `uni.connectSocket` and its
 * SocketTask. Same rules as the WeChat transport (one socket per app,
 * reconnect on app show and network return). uni.connectSocket returns a
 * SocketTask only when a success/fail/complete callback is passed, hence
 * `complete` below.
 */

let liveTask = null; // the one SocketTask of this app

export function uniTransport(api = typeof uni !== 'undefined' ? uni : undefined) {
  if (!api || typeof api.connectSocket !== 'function') throw new TypeError('uniTransport: uni.connectSocket is not available');
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
        complete: () => {},
        fail: (err) => finish(1006, (err && err.errMsg) || 'connectSocket failed'),
      };
      if (protocols.length) options.protocols = protocols;
      task = api.connectSocket(options);
      if (!task) throw new Error('uni.connectSocket returned no SocketTask');
      liveTask = task;
      task.onOpen(() => {
        if (!done) handlers.open();
      });
      task.onMessage((res) => {
        if (!done) handlers.message(res.data);
      });
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

/** The client's storage adapter over uni.getStorageSync / uni.setStorageSync. */
export function uniStorage(api = typeof uni !== 'undefined' ? uni : undefined) {
  return {
    getItem: (key) => {
      const value = api.getStorageSync(key);
      return value === '' || value === undefined ? null : value;
    },
    setItem: (key, value) => api.setStorageSync(key, value),
    removeItem: (key) => api.removeStorageSync(key),
  };
}
