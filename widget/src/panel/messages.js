/**
 * The message list (role=log): a keyed renderer over `timeline(state)`.
 * An item's element is rebuilt only when what it shows changes (its
 * signature), so replays and re-renders do not churn the DOM or screen readers.
 * Bodies are appended as text nodes and http(s) links only.
 */

import { h } from './dom.js';
import { linkify } from './linkify.js';
import { eventText } from './i18n.js';

export function createMessageList({ t, actions }) {
  const log = h('div', {
    class: 'log',
    role: 'log',
    'aria-live': 'polite',
    'aria-relevant': 'additions',
    'aria-label': t.messages,
    tabIndex: 0,
    testid: 'chatd-messages',
  });
  const nodes = new Map(); // key -> {el, sig}

  function render(state, items, { agentLabel }) {
    const nearBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 60;
    const current = state.current && state.conversations[state.current];
    const lastKey = current && current.entries.length ? `${current.id}:${current.entries[current.entries.length - 1].seq}` : '';
    const keep = new Set();
    let previous = null;
    let prevSender = '';
    let addedMine = false;
    for (const item of items) {
      const view = describe(item, state, { t, agentLabel, lastKey, prevSender, currentState: current ? current.state : '' });
      prevSender = view.sender;
      if (!view.show) continue;
      keep.add(item.key);
      let record = nodes.get(item.key);
      if (!record || record.sig !== view.sig) {
        const el = build(item, view, { t, actions });
        if (record) record.el.replaceWith(el);
        else if (view.mine) addedMine = true;
        record = { el, sig: view.sig };
        nodes.set(item.key, record);
      }
      const wanted = previous ? previous.nextSibling : log.firstChild;
      if (record.el !== wanted) log.insertBefore(record.el, wanted);
      previous = record.el;
    }
    for (const [key, record] of nodes) {
      if (!keep.has(key)) {
        record.el.remove();
        nodes.delete(key);
      }
    }
    if (nearBottom || addedMine) scrollToEnd();
  }

  function scrollToEnd() {
    log.scrollTop = log.scrollHeight;
  }

  function clear() {
    for (const record of nodes.values()) record.el.remove();
    nodes.clear();
  }

  return { el: log, render, scrollToEnd, clear };
}

/** What an item shows, as plain data plus a signature string. */
function describe(item, state, { t, agentLabel, lastKey, prevSender, currentState }) {
  if (item.kind === 'gap') {
    return { show: true, sig: 'gap', sender: '', text: t.gap };
  }
  if (item.kind === 'event') {
    const text = eventText(t, item, agentLabel);
    return { show: !!text, sig: `e|${text}`, sender: '', text };
  }
  if (item.kind === 'pending') {
    return { show: true, mine: true, sig: `p|${item.status}`, sender: 'visitor', status: item.status };
  }
  const role = item.from.role;
  const mine = role === 'visitor';
  const sender = `${role}:${item.from.id}`;
  const showWho = !mine && sender !== prevSender;
  let who = '';
  if (showWho) who = role === 'bot' ? t.bot : role === 'system' ? '' : agentLabel(item.from.id) || t.agent;
  let receipt = '';
  if (mine) {
    const conv = state.conversations[item.conversationId];
    receipt = conv && item.seq <= conv.peerReadSeq ? 'read' : 'unread';
  }
  const buttons = !mine && item.key === lastKey && currentState !== 'closed' ? quickReplies(item.data) : [];
  return {
    show: true,
    mine,
    role,
    who,
    receipt,
    buttons,
    sender,
    sig: `m|${who}|${receipt}|${buttons.map((b) => b.label).join('\u0001')}`,
  };
}

/** Quick-reply buttons from a bot message's `data.buttons` (strings or {label|title|text}). */
export function quickReplies(data) {
  if (!data || !Array.isArray(data.buttons)) return [];
  const out = [];
  for (const button of data.buttons.slice(0, 10)) {
    const label = typeof button === 'string' ? button : button && (button.label || button.title || button.text || button.question);
    if (typeof label === 'string' && label.trim()) out.push({ id: String((button && button.id) || label), label: label.trim() });
  }
  return out;
}

function body(text) {
  return linkify(text).map((segment) =>
    segment.href
      ? h('a', { href: segment.href, target: '_blank', rel: 'noopener noreferrer' }, segment.text)
      : segment.text,
  );
}

function build(item, view, { t, actions }) {
  if (item.kind === 'gap') {
    return h('div', { class: 'note', testid: 'chatd-gap' }, view.text);
  }
  if (item.kind === 'event') {
    return h('div', { class: 'note', testid: 'chatd-event', 'data-seq': item.seq, 'data-event': item.event }, view.text);
  }
  if (item.kind === 'pending') {
    const failed = item.status === 'failed';
    return h('div', {
      class: failed ? 'msg mine failed' : 'msg mine',
      testid: 'chatd-message',
      'data-role': 'visitor',
      'data-pending': item.status,
      'data-client-msg-id': item.clientMsgId,
    }, [
      h('span', { class: 'sr' }, `${t.you}: `),
      h('div', { class: 'bubble', testid: 'chatd-message-body' }, body(item.body)),
      h('div', { class: 'meta', testid: 'chatd-message-status' }, failed
        ? [t.failed, h('button', { type: 'button', class: 'link', testid: 'chatd-retry', on: { click: () => actions.retry(item) } }, t.retry)]
        : t.sending),
    ]);
  }
  const children = [];
  if (view.mine) children.push(h('span', { class: 'sr' }, `${t.you}: `));
  else if (view.who) children.push(h('div', { class: 'who', testid: 'chatd-sender' }, view.who));
  children.push(h('div', { class: 'bubble', testid: 'chatd-message-body' }, body(item.body)));
  if (view.receipt) {
    children.push(h('div', { class: 'meta' }, h('span', {
      testid: 'chatd-read-receipt',
      'data-read': view.receipt === 'read' ? 'true' : 'false',
    }, view.receipt === 'read' ? t.read : t.unread)));
  }
  if (view.buttons.length) {
    children.push(h('div', { class: 'chips', role: 'group', 'aria-label': t.quickReplies }, view.buttons.map((button) =>
      h('button', { type: 'button', class: 'chip', testid: 'chatd-quick-reply', 'data-id': button.id, on: { click: () => actions.sendText(button.label) } }, button.label))));
  }
  return h('div', {
    class: view.mine ? 'msg mine' : `msg ${view.role}`,
    testid: 'chatd-message',
    'data-seq': item.seq,
    'data-role': view.role,
    'data-client-msg-id': item.clientMsgId || null,
  }, children);
}
