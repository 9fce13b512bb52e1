/**
 * The `chatd(...)` command function, separate from the DOM so it can be
 * tested with a fake host.
 *
 * `host` does the work: { boot(config), open(), close(), toggle(), identify(token),
 * update(attributes), reset(), mountPanel(mount) }. Commands other than boot,
 * identify, update, on, off and the panel's own `_panel` wait until `boot`.
 */

const EVENTS = ['ready', 'open', 'close', 'message', 'unread'];

export function createCommands(host, report = () => {}) {
  const listeners = {};
  const waiting = [];
  let booted = false;
  let ready = false;

  function emit(name, payload) {
    if (name === 'ready') ready = true;
    for (const fn of (listeners[name] || []).slice()) {
      try {
        fn(payload);
      } catch (err) {
        report(err); // a host listener's bug must not break the widget
      }
    }
  }

  function run(name, arg) {
    switch (name) {
      case 'boot':
        if (booted) return;
        if (!arg || typeof arg.site !== 'string' || !arg.site) {
          report(new Error('chatd boot: a site key is required'));
          return;
        }
        booted = true;
        host.boot(arg);
        for (const args of waiting.splice(0)) run(...args);
        return;
      case 'identify':
        host.identify(arg && typeof arg === 'object' ? arg.token : arg);
        return;
      case 'update':
        host.update((arg && arg.attributes) || arg || {});
        return;
      case '_panel':
        host.mountPanel(arg);
        return;
      case 'open':
      case 'close':
      case 'toggle':
      case 'reset':
        if (!booted) waiting.push([name, arg]);
        else host[name]();
        return;
      default:
        report(new Error(`chatd: unknown command ${name}`));
    }
  }

  /** The global `chatd(command, ...args)`. */
  function chatd(name, arg, fn) {
    if (name === 'on' || name === 'off') {
      const event = arg;
      if (EVENTS.indexOf(event) < 0 || typeof fn !== 'function') {
        report(new Error(`chatd ${name}: unknown event ${event}`));
        return;
      }
      const list = listeners[event] || (listeners[event] = []);
      if (name === 'off') {
        const i = list.indexOf(fn);
        if (i >= 0) list.splice(i, 1);
        return;
      }
      list.push(fn);
      if (event === 'ready' && ready) fn(); // late listeners still hear about readiness
      return;
    }
    run(name, arg);
  }

  return { chatd, emit };
}
