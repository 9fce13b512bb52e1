/**
 * The panel bundle (dist/panel.js): mounts the chat into the loader's shadow
 * root and drives it: client events -> reduce() -> render. Registers itself
 * with the loader through `chatd('_panel', mount)`.
 */

import {
  MAX_BODY_CHARS,
  STORED_NAMES,
  codePoints,
  createClient,
  currentConversation,
  initialState,
  memoryStorage,
  namespacedStore,
  needsRating,
  reduce,
  storagePrefix,
  timeline,
  unreadCount,
  visitorUrl,
} from '../core/index.js';
import { browserStorage, browserTransport } from '../transport/browser.js';
import { queueText, strings } from './i18n.js';
import { prechatConfig } from './validate.js';
import { createView } from './view.js';
import { followVisualViewport } from './viewport.js';

const TYPING_REPEAT_MS = 3000; // resend typing=true this often while typing
const TYPING_IDLE_MS = 4000; // typing=false after this long without input
const PEER_TYPING_MS = 8000; // hide the agent's typing indicator if no update
const SUGGEST_DELAY_MS = 250; // ask for suggestions once the visitor pauses this long

/**
 * ctx (from the loader): {root, wrap, config, emit(event, payload),
 * setUnread(n), requestClose()}. Returns {open, close, identify, update, reset}.
 */
export function mount(ctx) {
  const { root, wrap, config, emit, setUnread, requestClose } = ctx;
  const win = window;
  const doc = document;
  const storage = browserStorage(win) || memoryStorage();
  const store = namespacedStore(storage, storagePrefix(config.site));
  const t = strings(config.locale);
  const prechat = prechatConfig(config.prechat);
  // Pre-chat answers from an earlier visit, then what the host page gave.
  let attributes = { ...(store.get('prechat', {}) || {}), ...(config.attributes || {}) };
  let identity = config.identity || '';

  const client = createClient({
    url: visitorUrl(config.server, config.site),
    site: config.site,
    transport: browserTransport(win),
    storage,
    identity,
    name: attributes.name || '',
    attributes,
    codec: config.codec === 'msgpack' ? 'msgpack' : 'json',
  });

  let state = reduce(initialState(), { type: 'rated', conversation_ids: store.get('rated', []) || [] });
  let readMarks = store.get('read', {}) || {};
  const ui = {
    open: false,
    leave: false, // the leave-a-message form is open (by the visitor or the server)
    leaveOffered: false, // opened because the server answered `start` with mode leave_message
    prechatDone: !!store.get('prechat'),
    thanks: '', // conversation just rated in this page
    rateRef: '', // the `rate` frame waiting for its `rated`
    everOnline: false,
    wasOnline: false,
  };
  const settled = new Set(); // conversations whose new entries are news (past the first replay)
  const peerTyping = {};
  let typingActive = false;
  let typingSentAt = 0;
  let typingTimer = 0;
  let suggestTimer = 0;
  let suggested = ''; // the draft suggestions were last asked for
  let frame = 0;

  const actions = {
    close: () => requestClose(),
    showLeave(visible, body = '') {
      ui.leave = visible;
      ui.leaveOffered = false;
      if (visible) {
        view.leaveForm.reset();
        view.leaveForm.fill({ ...store.get('prechat', {}), ...attributes, body });
      }
      render();
    },
    sendText(text) {
      if (codePoints(text) > MAX_BODY_CHARS) return t.tooLong;
      stopTyping();
      win.clearTimeout(suggestTimer);
      suggested = '';
      try {
        client.send(text);
      } catch (_) {
        return t.tooLong;
      }
      return '';
    },
    retry(item) {
      dispatch({ type: 'discard', client_msg_id: item.clientMsgId });
      actions.sendText(item.body);
    },
    draft,
    rate(score, comment) {
      const conversationId = state.current;
      if (!conversationId) return;
      // Thanks only once the server confirms with `rated`; until then the form
      // waits (sent when the connection is back), and an error reopens it.
      view.rating.setError('');
      view.rating.setBusy(true);
      ui.rateRef = client.rate(conversationId, score, comment);
    },
    prechat(entered) {
      const values = {};
      for (const key of Object.keys(entered)) if (entered[key]) values[key] = entered[key];
      store.set('prechat', values);
      attributes = { ...attributes, ...values };
      client.setAttributes(attributes);
      if (values.name) client.setName(values.name);
      ui.prechatDone = true;
      client.start();
      render();
      view.input.focus();
    },
    leave(values) {
      const url = config.leaveMessageUrl || `${config.server}/api/v1/leave-message`;
      const headers = { 'Content-Type': 'application/json' };
      if (client.token) headers.Authorization = `Bearer ${client.token}`;
      const payload = {
        site: config.site,
        ...values,
        locale: config.locale,
        page_url: win.location.origin + win.location.pathname,
        attributes,
      };
      return win.fetch(url, { method: 'POST', headers, body: JSON.stringify(payload) }).then((response) => {
        if (!response.ok) throw new Error(`leave-message: HTTP ${response.status}`);
      });
    },
  };

  const view = createView({ root, wrap, t, config, prechat, actions });
  view.setFullScreen(config.mode === 'page');
  const isFullScreen = () => ui.open && (config.mode === 'page' || win.matchMedia('(max-width: 480px)').matches);
  const fitViewport = followVisualViewport(win, view.panel, isFullScreen, () => view.list.scrollToEnd());

  client.on('*', (event) => {
    state = reduce(state, event);
    switch (event.type) {
      case 'connection':
        if (event.status === 'online') ui.everOnline = true;
        else if (ui.rateRef && ui.wasOnline) {
          // The rating went out on a socket that is gone before its `rated`
          // came back: let the visitor send it again (the server keeps the last).
          ui.rateRef = '';
          view.rating.setBusy(false);
        }
        ui.wasOnline = event.status === 'online';
        break;
      case 'conversation':
        if (event.conversation) settled.add(event.conversation.conversation_id);
        if (event.mode === 'leave_message' && event.conversation && event.conversation.state !== 'closed') {
          // Nobody can answer (off duty, or the overflow rules): offer the form,
          // with what the visitor already wrote as the message.
          const id = event.conversation.conversation_id;
          const written = client.outbox.list().filter((item) => item.conversation_id === id).map((item) => item.body);
          actions.showLeave(true, written.join('\n'));
          ui.leaveOffered = true;
        }
        break;
      case 'synced':
        settled.add(event.conversation_id);
        break;
      case 'message':
        if (settled.has(event.conversation_id)) {
          emit('message', { conversation_id: event.conversation_id, seq: event.seq, from: event.from, body: event.body, ts: event.ts });
        }
        break;
      case 'typing':
        if (event.active && event.from && event.from.role !== 'visitor') {
          const id = event.conversation_id;
          win.clearTimeout(peerTyping[id]);
          peerTyping[id] = win.setTimeout(() => dispatch({ type: 'typing_timeout', conversation_id: id }), PEER_TYPING_MS);
        }
        break;
      case 'replay_gap':
        fetchHistory(event.conversation_id, event.first_seq);
        break;
      case 'rated':
        if (event.conversation_id) {
          if (event.ref && event.ref === ui.rateRef) ui.rateRef = '';
          view.rating.setBusy(false);
          ui.thanks = event.conversation_id;
          const rated = (store.get('rated', []) || []).filter((id) => id !== event.conversation_id);
          store.set('rated', rated.concat(event.conversation_id).slice(-50));
        }
        break;
      case 'error':
        if (event.ref && event.ref === ui.rateRef) {
          ui.rateRef = '';
          view.rating.setBusy(false);
          view.rating.setError(t.rateFailed);
        }
        break;
      case 'reset':
        settled.clear();
        break;
      default:
        break;
    }
    refreshUnread();
    scheduleRender();
  });

  function dispatch(event) {
    state = reduce(state, event);
    scheduleRender();
  }

  function agentLabel(id) {
    if (!id) return '';
    for (const key of state.order) {
      const conv = state.conversations[key];
      if (conv.agentId === id && conv.agentName) return conv.agentName;
    }
    return id;
  }

  function mode() {
    const conv = currentConversation(state);
    const active = !!conv && conv.state !== 'closed';
    if (ui.leave) return 'leave';
    if (!state.onDuty && !active) return 'leave';
    if (prechat && !identity && !ui.prechatDone && !active && !state.pending.length) return 'prechat';
    return 'chat';
  }

  function render() {
    frame = 0;
    const conv = currentConversation(state);
    const m = mode();
    let banner = '';
    if (state.connection === 'stopped') banner = t.stopped;
    else if (state.connection === 'waiting' || (state.connection === 'connecting' && ui.everOnline)) banner = t.reconnecting;
    view.render({
      state,
      items: timeline(state),
      agentLabel,
      mode: m,
      open: ui.open,
      offline: m === 'leave' && (!ui.leave || ui.leaveOffered),
      canGoBack: m === 'leave' && ui.leave,
      agentText: conv && conv.state === 'assigned' && conv.agentId ? `${t.agent} ${agentLabel(conv.agentId)}` : '',
      banner,
      bannerError: state.connection === 'stopped',
      queueText: conv && conv.state === 'queued' ? queueText(config.locale, conv.queue) : '',
      typing: !!conv && conv.typing && conv.state !== 'closed',
      rating: needsRating(state) ? 'ask' : ui.thanks && ui.thanks === state.current ? 'done' : 'none',
      ratingFor: state.current,
      closed: !!conv && conv.state === 'closed',
    });
  }

  function scheduleRender() {
    if (frame) return;
    frame = (win.requestAnimationFrame || win.setTimeout)(render);
  }

  function visible() {
    return ui.open && doc.visibilityState !== 'hidden';
  }

  function refreshUnread() {
    if (visible()) markRead();
    else setUnread(unreadCount(state, readMarks));
  }

  /**
   * The visitor sees everything now: advance the read marks, and tell the other
   * side when there is something of theirs newly read.
   */
  function markRead() {
    let changed = false;
    for (const id of state.order) {
      const entries = state.conversations[id].entries;
      if (!entries.length) continue;
      const mark = readMarks[id] || 0;
      const latest = entries[entries.length - 1].seq;
      if (latest <= mark) continue;
      readMarks[id] = latest;
      changed = true;
      if (entries.some((e) => e.seq > mark && e.kind === 'message' && e.from.role !== 'visitor')) client.read(id, latest);
    }
    if (changed) {
      const kept = {};
      for (const id of state.order) if (readMarks[id]) kept[id] = readMarks[id];
      readMarks = kept;
      store.set('read', readMarks);
    }
    setUnread(0);
  }

  function draft(value) {
    suggestFor(value);
    const conv = currentConversation(state);
    if (!conv || conv.state === 'closed' || !value.trim()) {
      stopTyping();
      return;
    }
    const now = Date.now();
    if (!typingActive || now - typingSentAt > TYPING_REPEAT_MS) {
      client.typing(conv.id, true);
      typingActive = true;
      typingSentAt = now;
    }
    win.clearTimeout(typingTimer);
    typingTimer = win.setTimeout(stopTyping, TYPING_IDLE_MS);
  }

  /** Ask the bot what the visitor may mean (物流 -> 物流进度 ...), unless a person is answering. */
  function suggestFor(value) {
    win.clearTimeout(suggestTimer);
    const text = value.trim();
    const conv = currentConversation(state);
    if (!text || (conv && conv.state === 'assigned')) {
      suggested = '';
      if (state.suggestions.length) dispatch({ type: 'suggestions', items: [] });
      return;
    }
    suggestTimer = win.setTimeout(() => {
      if (text === suggested) return;
      suggested = text;
      client.suggest(text);
    }, SUGGEST_DELAY_MS);
  }

  function stopTyping() {
    win.clearTimeout(typingTimer);
    if (!typingActive) return;
    typingActive = false;
    if (state.current) client.typing(state.current, false);
  }

  /** After a replay_gap, page what the server still has over HTTP. */
  function fetchHistory(conversationId, before) {
    if (!client.token || !win.fetch) return;
    const url = `${config.server}/api/v1/conversations/${encodeURIComponent(conversationId)}/messages?before=${before}&limit=50`;
    win.fetch(url, { headers: { Authorization: `Bearer ${client.token}` } })
      .then((response) => (response.ok ? response.json() : null))
      .then((body) => {
        if (body && Array.isArray(body.entries)) dispatch({ type: 'history', conversation_id: conversationId, entries: body.entries });
      })
      .catch(() => {});
  }

  doc.addEventListener('visibilitychange', () => {
    if (visible()) markRead();
  });

  // Messages still owed from the last page (persisted outbox) show as sending.
  for (const item of client.outbox.list()) dispatch({ type: 'outgoing', ...item });
  // A returning visitor may have an open chat and unread answers: connect now.
  if (client.token || client.outbox.size) client.connect();
  render();

  return {
    open() {
      ui.open = true;
      view.setOpen(true);
      client.connect();
      refreshUnread();
      render();
      fitViewport();
      view.focusFirst(mode());
    },
    close() {
      ui.open = false;
      stopTyping();
      view.setOpen(false);
      fitViewport();
    },
    identify(token) {
      identity = token || '';
      client.identify(identity);
      render();
    },
    update(attrs) {
      attributes = { ...attributes, ...attrs };
      client.setAttributes(attributes);
      if (typeof attrs.name === 'string') client.setName(attrs.name);
    },
    reset() {
      client.reset();
      for (const name of STORED_NAMES) store.remove(name);
      readMarks = {};
      identity = '';
      attributes = {};
      client.setAttributes(attributes);
      ui.prechatDone = false;
      ui.thanks = '';
      ui.rateRef = '';
      ui.leave = false;
      ui.leaveOffered = false;
      view.clear();
      setUnread(0);
      render();
    },
  };
}

// Hand the mount function to the loader (or to its queue if it is not there yet).
const w = window;
w.chatd = w.chatd || function chatdQueue() {
  (w.chatd.q = w.chatd.q || []).push(arguments);
};
w.chatd('_panel', mount);
