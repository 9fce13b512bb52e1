/**
 * The loader: the one <script async> a site embeds (built to dist/loader.js).
 *
 * It replaces the snippet's queueing `chatd` stub with the real command
 * function, runs the queued commands, draws the launcher (with its unread
 * badge) in a shadow root, and loads the panel bundle on first open or when
 * the browser is idle. The panel registers itself with `chatd('_panel', mount)`.
 */

import { createCommands } from './loader/commands.js';
import { pickLocale, textOn, themeColor } from './theme.js';
import { storagePrefix } from './core/storage.js';
import { adoptStyle } from './shadow-style.js';

// Inline and :host styles are both !important: page rules such as
// `* { all: unset !important }` lose to the element's own style attribute and,
// for important declarations, to the shadow tree's :host rule.
/* global __PANEL_VERSION__ */
// The panel's content hash, set by the build (build.mjs); 'dev' when run from source.
const PANEL_VERSION = typeof __PANEL_VERSION__ !== 'undefined' ? __PANEL_VERSION__ : 'dev';

const HOST_STYLE =
  'all:initial!important;display:block!important;position:fixed!important;top:0!important;left:0!important;' +
  'width:0!important;height:0!important;overflow:visible!important;z-index:2147483647!important;' +
  'transform:none!important;filter:none!important;contain:none!important;visibility:visible!important;opacity:1!important';

const LAUNCHER_CSS = `:host{${HOST_STYLE}}
.cw{font:14px/1.45 system-ui,-apple-system,"Segoe UI","PingFang SC","Hiragino Sans GB","Microsoft YaHei",Roboto,sans-serif;color:#1f2328;-webkit-font-smoothing:antialiased}
.cw *,.cw *::before,.cw *::after{box-sizing:border-box}
.launcher{all:unset;position:fixed;bottom:20px;right:20px;width:56px;height:56px;border-radius:50%;background:var(--chatd-color);color:var(--chatd-on-color);box-shadow:0 4px 16px rgba(0,0,0,.28);cursor:pointer;display:flex;align-items:center;justify-content:center;transition:transform .15s}
.launcher:hover{transform:scale(1.06)}
.launcher:focus-visible{outline:3px solid var(--chatd-color);outline-offset:3px}
[data-position=left] .launcher{right:auto;left:20px}
[data-vv] .launcher{top:calc(var(--chatd-vb) - 76px);left:calc(var(--chatd-vr) - 76px);right:auto;bottom:auto}
[data-vv][data-position=left] .launcher{left:calc(var(--chatd-vl) + 20px)}
.launcher svg{width:28px;height:28px;fill:currentColor}
.launcher .i-close,[data-open=true] .launcher .i-open{display:none}
[data-open=true] .launcher .i-close{display:block}
[data-loading=true] .launcher{opacity:.7;cursor:progress}
.badge{position:absolute;top:-4px;right:-4px;min-width:20px;height:20px;padding:0 6px;border-radius:10px;background:#d1242f;color:#fff;font:600 12px/20px system-ui,sans-serif;text-align:center}
.badge[hidden]{display:none}
@media (max-width:480px){[data-open=true] .launcher{display:none}}
@media (prefers-reduced-motion:reduce){.launcher{transition:none}}`;

const ICONS = [
  ['i-open', 'M12 3C6.5 3 2 6.6 2 11c0 2.4 1.3 4.5 3.4 6L4.6 21l4.3-2.3c1 .2 2 .3 3.1.3 5.5 0 10-3.6 10-8s-4.5-8-10-8z'],
  ['i-close', 'M18.3 5.7a1 1 0 0 0-1.4 0L12 10.6 7.1 5.7a1 1 0 1 0-1.4 1.4l4.9 4.9-4.9 4.9a1 1 0 1 0 1.4 1.4l4.9-4.9 4.9 4.9a1 1 0 0 0 1.4-1.4L13.4 12l4.9-4.9a1 1 0 0 0 0-1.4z'],
];
const SVG_NS = 'http://www.w3.org/2000/svg';

const LABELS = {
  'zh-CN': { open: '打开在线客服', close: '关闭在线客服', unread: (n) => `，${n} 条未读消息` },
  en: { open: 'Open chat', close: 'Close chat', unread: (n) => `, ${n} unread` },
};

(function install(win, doc) {
  if (win.chatd && win.chatd.loaded) return; // the script was included twice
  const script = doc.currentScript;
  const src = (script && script.src) || '';
  const base = src ? src.slice(0, src.lastIndexOf('/') + 1) : '/widget/';
  const origin = src ? new URL(src, win.location.href).origin : win.location.origin;
  const queued = (win.chatd && win.chatd.q) || [];

  let config = null;
  let identity = '';
  let attributes = {};
  let wrap = null;
  let launcher = null;
  let badge = null;
  let panel = null; // the panel's API once mounted
  let pendingMount = null; // panel.js ran before boot
  let policy = null; // Trusted Types policy for the panel's script URL
  let loading = false;
  let isOpen = false;
  let unread = 0;
  let t = LABELS.en;

  const { chatd, emit } = createCommands(
    {
      boot,
      open,
      close,
      toggle: () => (isOpen ? close() : open()),
      identify(token) {
        identity = token || '';
        if (panel) panel.identify(identity);
      },
      update(attrs) {
        attributes = { ...attributes, ...attrs };
        if (panel) panel.update(attrs);
      },
      reset,
      mountPanel,
    },
    (err) => win.console && win.console.error(err),
  );
  chatd.loaded = true;
  win.chatd = chatd;

  function boot(options) {
    config = {
      ...options,
      server: String(options.server || origin).replace(/\/+$/, ''),
      locale: pickLocale(options.locale || win.navigator.language),
      color: themeColor(options.color),
      position: options.position === 'left' ? 'left' : 'right',
      mode: options.mode === 'page' ? 'page' : 'widget',
      panelUrl: options.panelUrl || `${base}panel.js?v=${PANEL_VERSION}`,
    };
    t = LABELS[config.locale];
    const host = doc.createElement('chatd-widget');
    host.style.cssText = HOST_STYLE; // CSSOM, which strict CSPs allow
    host.setAttribute('data-testid', 'chatd-host');
    const root = host.attachShadow({ mode: 'open' });
    adoptStyle(root, LAUNCHER_CSS);
    wrap = doc.createElement('div');
    wrap.className = 'cw';
    wrap.setAttribute('data-position', config.position);
    wrap.setAttribute('data-mode', config.mode);
    wrap.setAttribute('data-open', 'false');
    wrap.style.setProperty('--chatd-color', config.color);
    wrap.style.setProperty('--chatd-on-color', textOn(config.color));
    root.append(wrap);
    if (config.mode === 'widget') {
      launcher = doc.createElement('button');
      launcher.type = 'button';
      launcher.className = 'launcher';
      launcher.setAttribute('data-testid', 'chatd-launcher');
      launcher.setAttribute('aria-expanded', 'false');
      launcher.setAttribute('aria-controls', 'chatd-panel');
      for (const [cls, d] of ICONS) {
        // Built node by node: no innerHTML, so Trusted Types pages accept it.
        const svg = doc.createElementNS(SVG_NS, 'svg');
        svg.setAttribute('class', cls);
        svg.setAttribute('viewBox', '0 0 24 24');
        svg.setAttribute('aria-hidden', 'true');
        const path = doc.createElementNS(SVG_NS, 'path');
        path.setAttribute('d', d);
        svg.append(path);
        launcher.append(svg);
      }
      badge = doc.createElement('span');
      badge.className = 'badge';
      badge.setAttribute('data-testid', 'chatd-badge');
      badge.setAttribute('aria-hidden', 'true');
      badge.hidden = true;
      launcher.append(badge);
      launcher.addEventListener('click', () => (isOpen ? close() : open()));
      wrap.append(launcher);
      label();
      followScreen();
    }
    const attach = () => {
      doc.body.appendChild(host);
      emit('ready');
      if (config.mode === 'page') {
        open();
      } else if (win.requestIdleCallback) {
        win.requestIdleCallback(loadPanel, { timeout: 8000 });
      } else {
        win.setTimeout(loadPanel, 3000);
      }
    };
    if (doc.body) attach();
    else doc.addEventListener('DOMContentLoaded', attach);
    if (pendingMount) mountPanel(pendingMount);
  }

  /**
   * Keep the launcher in the screen's corner. Fixed elements sit in the layout
   * viewport, which mobile browsers widen past the screen on pages wider than
   * it; the visual viewport is what the visitor sees.
   */
  function followScreen() {
    const vv = win.visualViewport;
    if (!vv) return;
    let frame = 0;
    const place = () => {
      frame = 0;
      wrap.style.setProperty('--chatd-vl', `${vv.offsetLeft}px`);
      wrap.style.setProperty('--chatd-vr', `${vv.offsetLeft + vv.width}px`);
      wrap.style.setProperty('--chatd-vb', `${vv.offsetTop + vv.height}px`);
    };
    const schedule = () => {
      if (!frame) frame = (win.requestAnimationFrame || win.setTimeout)(place);
    };
    place();
    wrap.setAttribute('data-vv', '');
    vv.addEventListener('resize', schedule);
    vv.addEventListener('scroll', schedule);
  }

  function label() {
    if (!launcher) return;
    launcher.setAttribute('aria-label', (isOpen ? t.close : t.open) + (unread ? t.unread(unread) : ''));
  }

  function loadPanel() {
    if (panel || loading || !config) return;
    loading = true;
    wrap.setAttribute('data-loading', 'true');
    const el = doc.createElement('script');
    el.async = true;
    el.src = scriptUrl(config.panelUrl);
    el.onerror = () => {
      loading = false; // the next open tries again
      wrap.setAttribute('data-loading', 'false');
      el.remove();
    };
    doc.head.appendChild(el);
  }

  /** The panel URL, wrapped for pages that enforce Trusted Types (allow the policy "chatd"). */
  function scriptUrl(url) {
    const tt = win.trustedTypes;
    try {
      if (!policy && tt && tt.createPolicy) policy = tt.createPolicy('chatd', { createScriptURL: (value) => (value === config.panelUrl ? value : '') });
    } catch (_) {
      /* policy name not allowed: plain URL */
    }
    return policy ? policy.createScriptURL(url) : url;
  }

  function mountPanel(mount) {
    if (panel || typeof mount !== 'function') return;
    if (!config) {
      pendingMount = mount;
      return;
    }
    loading = false;
    wrap.setAttribute('data-loading', 'false');
    panel = mount({
      root: wrap.getRootNode(),
      wrap,
      launcher,
      config: { ...config, identity, attributes },
      emit,
      setUnread,
      requestClose: close,
    });
    if (isOpen) panel.open();
  }

  function open() {
    if (!config || isOpen) return;
    isOpen = true;
    wrap.setAttribute('data-open', 'true');
    if (launcher) launcher.setAttribute('aria-expanded', 'true');
    label();
    if (panel) panel.open();
    else loadPanel();
    emit('open');
  }

  function close() {
    if (!config || !isOpen || config.mode === 'page') return;
    isOpen = false;
    wrap.setAttribute('data-open', 'false');
    if (launcher) {
      launcher.setAttribute('aria-expanded', 'false');
      label();
      launcher.focus();
    }
    if (panel) panel.close();
    emit('close');
  }

  function reset() {
    identity = '';
    attributes = {};
    if (panel) panel.reset();
    // Forget everything stored for the site even when the panel never loaded.
    try {
      const prefix = storagePrefix(config.site);
      const storage = win.localStorage;
      for (let i = storage.length - 1; i >= 0; i--) {
        const key = storage.key(i);
        if (key && key.indexOf(prefix) === 0) storage.removeItem(key);
      }
    } catch (_) {
      /* storage disabled: nothing stored */
    }
    setUnread(0);
  }

  function setUnread(n) {
    if (n === unread) return;
    unread = n;
    if (badge) {
      badge.textContent = n > 99 ? '99+' : String(n);
      badge.hidden = !n;
    }
    label();
    emit('unread', n);
  }

  for (const args of queued) chatd(...args);
})(window, document);
