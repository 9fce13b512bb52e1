// A fake mini-program API object (the shape of `wx` and `uni`) for the
// transport tests. (This file has no tests of its own.)

export class FakeSocketTask {
  constructor(options) {
    this.options = options;
    this.sent = [];
    this.closedWith = null;
    this.listeners = { open: [], message: [], close: [], error: [] };
  }

  onOpen(fn) { this.listeners.open.push(fn); }
  onMessage(fn) { this.listeners.message.push(fn); }
  onClose(fn) { this.listeners.close.push(fn); }
  onError(fn) { this.listeners.error.push(fn); }

  send({ data }) {
    this.sent.push(typeof data === 'string' ? JSON.parse(data) : data);
  }

  close({ code, reason } = {}) {
    this.closedWith = { code, reason };
  }

  // ---- what the platform does ----
  fire(kind, payload) {
    for (const fn of this.listeners[kind]) fn(payload);
  }

  open() { this.fire('open', {}); }
  receive(frame) { this.fire('message', { data: JSON.stringify(frame) }); }
  serverClose(code, reason = '') {
    this.closedWith = { code, reason, by: 'server' };
    this.fire('close', { code, reason });
  }
}

/**
 * `requireCallbackForTask`: uni.connectSocket returns the task only when a callback is passed.
 * `alipay`: my.connectSocket returns a task only with `multiple: true`, and storage takes objects.
 */
export function fakeMiniProgram({ requireCallbackForTask = false, alipay = false } = {}) {
  const api = {
    tasks: [],
    storage: new Map(),
    appShow: [],
    network: [],
    connectSocket(options) {
      const task = new FakeSocketTask(options);
      api.tasks.push(task);
      if (requireCallbackForTask && !(options.success || options.fail || options.complete)) return undefined;
      if (alipay && options.multiple !== true) return undefined;
      return task;
    },
    onAppShow(fn) { api.appShow.push(fn); },
    offAppShow(fn) { api.appShow = api.appShow.filter((f) => f !== fn); },
    onNetworkStatusChange(fn) { api.network.push(fn); },
    offNetworkStatusChange(fn) { api.network = api.network.filter((f) => f !== fn); },
    getStorageSync(key) { return api.storage.has(key) ? api.storage.get(key) : ''; },
    setStorageSync(key, value) { api.storage.set(key, value); },
    removeStorageSync(key) { api.storage.delete(key); },
    // ---- what the platform does ----
    showApp() { for (const fn of api.appShow.slice()) fn({ scene: 1001 }); },
    networkChange(isConnected) { for (const fn of api.network.slice()) fn({ isConnected, networkType: isConnected ? 'wifi' : 'none' }); },
    get lastTask() { return api.tasks[api.tasks.length - 1]; },
  };
  if (alipay) {
    api.getStorageSync = ({ key }) => ({ data: api.storage.has(key) ? api.storage.get(key) : null });
    api.setStorageSync = ({ key, data }) => { api.storage.set(key, data); };
    api.removeStorageSync = ({ key }) => { api.storage.delete(key); };
  }
  return api;
}
