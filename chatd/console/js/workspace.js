/**
 * The agent workspace: inbox (unread counts, waiting times, offers with a
 * countdown), several conversations open in tabs, the log of each with typing
 * and read receipts, the composer (quick replies with `/`, internal notes),
 * transfer, close with a disposition and tickets. The customer panel sits beside.
 */

import { h, mount, duration, clockTime } from './dom.js';
import { createCustomerPanel } from './customer.js';

const OWNED = new Set(['offered', 'assigned']); // the states in which the owner works a chat
const DISPOSITIONS = ['resolved', 'no_reply', 'escalated', 'spam', 'other'];

export function createWorkspace(app) {
  const { t, api, me } = app;
  const chats = new Map(); // conversation_id -> chat
  let activeId = '';
  const tabs = [];
  const inboxEl = h('ul', { class: 'inbox', testid: 'inbox' });
  const tabsEl = h('div', { class: 'tabs', testid: 'tabs', role: 'tablist' });
  const paneEl = h('section', { class: 'pane', testid: 'pane' });
  const sideEl = h('aside', { class: 'side', testid: 'customer-side' });
  const root = h('div', { class: 'workspace', testid: 'workspace' },
    h('nav', { class: 'inbox-col' }, h('h2', {}, t('inbox')), inboxEl),
    h('main', { class: 'chat-col' }, tabsEl, paneEl),
    sideEl);

  // --- model -------------------------------------------------------------------------
  function chatFor(conversation) {
    let chat = chats.get(conversation.conversation_id);
    if (!chat) {
      chat = {
        id: conversation.conversation_id, conversation: { ...conversation }, entries: [], unread: 0,
        typingUntil: 0, visitorRead: 0, watching: false, gone: false, lastVisitorAt: 0, answered: true,
        view: null, customer: null,
      };
      chats.set(chat.id, chat);
    } else {
      chat.conversation = { ...chat.conversation, ...conversation };
    }
    return chat;
  }

  function mine(chat) {
    const c = chat.conversation;
    return !chat.watching && !chat.gone && c.agent_id === me.agent_id && c.state !== 'closed';
  }

  // --- frames --------------------------------------------------------------------------
  function handle(frame) {
    switch (frame.type) {
      case 'welcome':
        for (const conversation of frame.conversations || []) {
          const chat = chatFor(conversation);
          chat.gone = false;
        }
        render();
        break;
      case 'conversation': {
        const known = chats.has(frame.conversation.conversation_id);
        const chat = chatFor(frame.conversation);
        chat.watching = Boolean(frame.watching);
        const wasGone = chat.gone;
        chat.gone = false;
        if (!chat.watching && (!known || wasGone)) {
          app.notifier.alert(t('new_chat'), frame.conversation.visitor_name || t('new_chat_body'));
          if (!activeId) open(chat.id);
        }
        if (chat.watching) open(chat.id);
        // A chat dismissed here and now back: the socket skips what it saw before, so its history comes from the API.
        if (!known && app.socket.lastSeq.get(chat.id)) refetch(chat.id, false);
        render();
        break;
      }
      case 'message':
      case 'note':
      case 'event':
        onEntry(frame);
        break;
      case 'typing': {
        const chat = chats.get(frame.conversation_id);
        if (chat && frame.from?.role === 'visitor') {
          chat.typingUntil = frame.active ? Date.now() + 6000 : 0;
          renderTyping(chat);
        }
        break;
      }
      case 'read': {
        const chat = chats.get(frame.conversation_id);
        if (chat && frame.from?.role === 'visitor') {
          chat.visitorRead = Math.max(chat.visitorRead, frame.seq);
          renderReceipts(chat);
        }
        break;
      }
      case 'ack': {
        const chat = chats.get(frame.conversation_id);
        if (chat?.view) {
          const pending = chat.view.list.querySelector(`[data-client-msg-id="${CSS.escape(frame.client_msg_id)}"]`);
          if (pending && pending.dataset.pending) pending.dataset.pending = 'acked';
        }
        break;
      }
      case '_send_failed': {
        for (const chat of chats.values()) {
          const el = chat.view?.list.querySelector(`[data-client-msg-id="${CSS.escape(frame.client_msg_id)}"]`);
          if (el) {
            el.dataset.pending = 'failed';
            el.querySelector('.meta').textContent = `${t('failed')} (${frame.code})`;
          }
        }
        break;
      }
      case 'replay_gap':
        refetch(frame.conversation_id, true);
        break;
      case 'resync': {
        // The server's history of this chat changed: start it afresh; the whole log follows.
        const chat = chats.get(frame.conversation_id);
        if (chat) {
          chat.entries = [];
          if (chat.view) chat.view.list.replaceChildren();
        }
        break;
      }
      default:
        break;
    }
  }

  function onEntry(frame) {
    const chat = chats.get(frame.conversation_id) || chatFor({ conversation_id: frame.conversation_id });
    chat.entries.push(frame);
    if (frame.type === 'message' && frame.from?.role === 'visitor') {
      if (chat.answered) chat.lastVisitorAt = frame.ts;
      chat.answered = false;
      chat.typingUntil = 0;
      if (chat.id !== activeId || document.hidden) chat.unread += 1;
    } else if (frame.type === 'message' && frame.from?.role === 'agent') {
      chat.answered = true;
    }
    if (frame.type === 'event') {
      const data = frame.data || {};
      chat.conversation = { ...chat.conversation, state: data.state || chat.conversation.state,
        agent_id: data.agent_id ?? chat.conversation.agent_id, skill: data.skill || chat.conversation.skill };
      if (!chat.watching && data.state) {
        // Whether the chat is still this agent's follows from the newest event
        // alone (who owns it now), never from older ones replayed before it.
        chat.gone = data.state !== 'closed' && !(OWNED.has(data.state) && data.agent_id === me.agent_id);
      }
      if (frame.event === 'offered' || frame.event === 'lapsed') {
        chat.conversation.offer_expires_at = data.offer_expires_at || chat.conversation.offer_expires_at;
      }
    }
    if (chat.view) appendEntry(chat, frame);
    if (chat.id === activeId && !document.hidden) markRead(chat);
    renderInbox();
    if (chat.id === activeId) renderHeader(chat);
  }

  async function refetch(conversationId, trimmed) {
    const chat = chats.get(conversationId);
    if (!chat) return;
    try {
      const page = await api.get(`/api/v1/conversations/${encodeURIComponent(conversationId)}/messages?before=0&limit=200`);
      const seen = new Set(chat.entries.map((e) => e.seq));
      for (const entry of page.entries) {
        if (seen.has(entry.seq)) continue;
        chat.entries.push(entryFrame(entry));
      }
      chat.entries.sort((a, b) => a.seq - b.seq);
      if (chat.view) {
        chat.view.list.replaceChildren(...(trimmed ? [h('li', { class: 'system' }, t('replay_gap'))] : []));
        for (const entry of chat.entries) appendEntry(chat, entry);
      }
    } catch (error) {
      app.toast(t('error', { message: error.message }));
    }
  }

  function entryFrame(entry) {
    const type = entry.kind === 'event' ? 'event' : entry.kind;
    return { type, conversation_id: entry.conversation_id, seq: entry.seq, ts: entry.ts, body: entry.body,
      event: entry.kind === 'event' ? entry.body : undefined, data: entry.data,
      from: { role: entry.sender_role, id: entry.sender_id }, client_msg_id: entry.client_msg_id };
  }

  // --- selection -------------------------------------------------------------------------
  function open(id) {
    if (!tabs.includes(id)) tabs.push(id);
    select(id);
  }

  function select(id) {
    activeId = id;
    const chat = chats.get(id);
    if (chat) {
      chat.unread = 0;
      markRead(chat);
    }
    render();
  }

  function closeTab(id) {
    const index = tabs.indexOf(id);
    if (index >= 0) tabs.splice(index, 1);
    const chat = chats.get(id);
    if (chat && (chat.gone || chat.conversation.state === 'closed' || chat.watching)) {
      if (chat.watching) app.socket.sendFrame({ type: 'unwatch', conversation_id: id });
      chats.delete(id);
    }
    if (activeId === id) activeId = tabs[tabs.length - 1] || '';
    render();
  }

  function markRead(chat) {
    const last = [...chat.entries].reverse().find((e) => e.type === 'message' && e.from?.role === 'visitor');
    if (last && mine(chat) && (chat.readSent || 0) < last.seq) {
      chat.readSent = last.seq;
      app.socket.sendFrame({ type: 'read', conversation_id: chat.id, seq: last.seq });
    }
  }

  document.addEventListener('visibilitychange', () => {
    const chat = chats.get(activeId);
    if (!document.hidden && chat) {
      chat.unread = 0;
      markRead(chat);
      renderInbox();
    }
  });

  // --- rendering ---------------------------------------------------------------------------
  function render() {
    renderInbox();
    renderTabs();
    const chat = chats.get(activeId);
    if (!chat) {
      mount(paneEl, h('p', { class: 'empty' }, t('pick_conversation')));
      mount(sideEl);
      return;
    }
    if (!chat.view) buildView(chat);
    if (paneEl.firstChild !== chat.view.root) mount(paneEl, chat.view.root);
    renderHeader(chat);
    if (!chat.customer) chat.customer = createCustomerPanel(app, chat.id);
    if (sideEl.firstChild !== chat.customer.root) mount(sideEl, chat.customer.root);
  }

  function sortedChats() {
    const rank = (chat) => (chat.conversation.state === 'offered' ? 0 : chat.watching ? 2 : chat.gone ? 3 : 1);
    return [...chats.values()].sort((a, b) => rank(a) - rank(b)
      || (a.conversation.assigned_at || a.conversation.created_at || 0) - (b.conversation.assigned_at || b.conversation.created_at || 0));
  }

  function renderInbox() {
    const now = Date.now() / 1000;
    const items = sortedChats().map((chat) => {
      const c = chat.conversation;
      const offered = c.state === 'offered' && c.agent_id === me.agent_id;
      const waiting = !chat.answered && chat.lastVisitorAt ? t('waiting', { t: duration(now - chat.lastVisitorAt) }) : '';
      const last = [...chat.entries].reverse().find((e) => e.type === 'message');
      return h('li', {
        class: `inbox-item${chat.id === activeId ? ' active' : ''}${offered ? ' offered' : ''}${chat.gone ? ' gone' : ''}`,
        testid: 'inbox-item', dataset: { cid: chat.id, state: c.state }, onclick: () => open(chat.id), tabindex: 0,
        onkeydown: (event) => { if (event.key === 'Enter') open(chat.id); },
      },
      h('div', { class: 'row' }, h('strong', {}, c.visitor_name || c.visitor_id || chat.id),
        chat.unread ? h('span', { class: 'badge', testid: 'unread' }, String(chat.unread)) : null),
      h('div', { class: 'row small' }, h('span', { class: 'preview' }, last ? last.body : c.skill || ''),
        h('span', { class: 'wait', testid: 'waiting' }, waiting)),
      offered ? offerCard(chat, now) : null,
      chat.watching ? h('div', { class: 'tag' }, t('watching')) : null,
      chat.gone ? h('div', { class: 'tag' }, c.state === 'closed' ? t('closed') : t('ev_transferred', {
        from: '', to: c.agent_id || c.skill || '' })) : null,
      c.state === 'closed' && !chat.gone ? h('div', { class: 'tag' }, t('closed')) : null);
    });
    mount(inboxEl, items.length ? items : h('li', { class: 'empty' }, t('no_conversations')));
  }

  function offerCard(chat, now) {
    const left = Math.max(0, Math.round((chat.conversation.offer_expires_at || now) - now));
    return h('div', { class: 'offer', testid: 'offer' },
      h('span', { testid: 'offer-countdown' }, t('expires_in', { s: left })),
      h('button', { class: 'primary', testid: 'offer-accept', onclick: (event) => {
        event.stopPropagation();
        app.socket.sendFrame({ type: 'accept', conversation_id: chat.id });
        open(chat.id);
      } }, t('accept')),
      h('button', { testid: 'offer-decline', onclick: (event) => {
        event.stopPropagation();
        app.socket.sendFrame({ type: 'decline', conversation_id: chat.id });
      } }, t('decline')));
  }

  function renderTabs() {
    mount(tabsEl, tabs.filter((id) => chats.has(id)).map((id) => {
      const chat = chats.get(id);
      return h('div', { class: `tab${id === activeId ? ' active' : ''}`, role: 'tab', testid: 'tab', dataset: { cid: id } },
        h('button', { class: 'tab-name', onclick: () => select(id) },
          chat.conversation.visitor_name || id, chat.unread ? ` (${chat.unread})` : ''),
        h('button', { class: 'tab-close', 'aria-label': 'close tab', onclick: () => closeTab(id) }, '×'));
    }));
  }

  function renderHeader(chat) {
    if (!chat.view) return;
    const c = chat.conversation;
    const ownChat = mine(chat);
    mount(chat.view.header,
      h('div', { class: 'title' }, h('strong', {}, c.visitor_name || c.visitor_id || chat.id),
        h('span', { class: 'state', testid: 'conversation-state' }, ` · ${c.skill || ''} · ${c.state || ''}`),
        chat.watching ? h('span', { class: 'tag', testid: 'watching' }, t('watching')) : null),
      h('div', { class: 'actions' },
        c.state === 'offered' && c.agent_id === me.agent_id ? offerCard(chat, Date.now() / 1000) : null,
        ownChat && c.state === 'assigned' ? [
          h('button', { testid: 'transfer-button', onclick: () => transferDialog(chat) }, t('transfer')),
          h('button', { testid: 'ticket-button', onclick: () => ticketDialog(chat) }, t('ticket')),
          h('button', { testid: 'close-button', class: 'danger', onclick: () => closeDialog(chat) }, t('close_chat')),
        ] : null,
        chat.watching ? h('button', { testid: 'unwatch', onclick: () => closeTab(chat.id) }, t('stop_watching')) : null,
        chat.gone || c.state === 'closed' ? h('button', { testid: 'dismiss', onclick: () => closeTab(chat.id) }, t('dismiss')) : null));
    chat.view.composerBox.hidden = !ownChat;
  }

  function renderTyping(chat) {
    if (!chat.view) return;
    chat.view.typing.textContent = chat.typingUntil > Date.now() ? t('typing') : '';
  }

  function renderReceipts(chat) {
    if (!chat.view) return;
    for (const el of chat.view.list.querySelectorAll('li[data-role="agent"][data-seq]')) {
      const read = Number(el.dataset.seq) <= chat.visitorRead;
      el.dataset.read = read ? 'true' : 'false';
      const mark = el.querySelector('.receipt');
      if (mark) mark.textContent = read ? ` · ${t('read_up_to')}` : '';
    }
  }

  // --- one conversation's view ------------------------------------------------------------
  function buildView(chat) {
    const list = h('ol', { class: 'log', testid: 'log', 'aria-live': 'polite' });
    const typing = h('div', { class: 'typing', testid: 'typing' });
    const header = h('header', { class: 'pane-header' });
    const composer = createComposer(chat);
    const composerBox = composer.root;
    const root = h('div', { class: 'conversation', testid: 'conversation', dataset: { cid: chat.id } },
      header, list, typing, composerBox);
    chat.view = { root, list, typing, header, composerBox, composer };
    for (const entry of chat.entries) appendEntry(chat, entry);
    for (const item of app.socket.pending(chat.id)) appendPending(chat, item);
  }

  function entryText(frame) {
    const data = frame.data || {};
    const agent = data.agent_id || '';
    switch (frame.event) {
      case 'queued': return t('ev_queued', { skill: data.skill || '' });
      case 'offered': return t('ev_offered', { agent });
      case 'accepted': return t('ev_accepted', { agent: agent || frame.from?.id || '' });
      case 'lapsed': return t('ev_lapsed', { agent: data.from_agent || '' });
      case 'assigned': return t('ev_assigned', { agent });
      case 'transferred': return t('ev_transferred', { from: data.from_agent || '', to: data.to_agent || data.to_skill || '' });
      case 'requeued': return t('ev_requeued');
      case 'closed': return t('ev_closed') + (data.disposition ? ` (${data.disposition})` : '');
      case 'reopened': return t('ev_reopened');
      default: return frame.event || '';
    }
  }

  function appendEntry(chat, frame) {
    const list = chat.view.list;
    if (frame.client_msg_id) {
      const pending = list.querySelector(`[data-client-msg-id="${CSS.escape(frame.client_msg_id)}"][data-pending]`);
      if (pending) pending.remove();
    }
    if (list.querySelector(`[data-seq="${frame.seq}"]`)) return;
    let el;
    if (frame.type === 'event') {
      const data = frame.data || {};
      el = h('li', { class: 'event', testid: 'event', dataset: { seq: frame.seq, event: frame.event } },
        h('span', {}, entryText(frame)),
        data.note ? h('div', { class: 'transfer-note', testid: 'transfer-note' }, t('transfer_note', { note: data.note })) : null,
        data.handoff ? h('div', { class: 'small' }, JSON.stringify(data.handoff)) : null);
    } else {
      const role = frame.from?.role || '';
      const who = role === 'agent' ? (frame.from.id === me.agent_id ? t('you') : frame.from.id)
        : role === 'visitor' ? (chat.conversation.visitor_name || t('visitor')) : t('bot');
      el = h('li', { class: `msg ${role}${frame.type === 'note' ? ' note' : ''}`, testid: frame.type === 'note' ? 'note' : 'message',
        dataset: { seq: frame.seq, role, clientMsgId: frame.client_msg_id || '' } },
      h('div', { class: 'bubble', testid: 'message-body' }, frame.body),
      h('div', { class: 'meta' }, `${who} · ${clockTime(frame.ts, app.locale)}`,
        frame.type === 'note' ? ` · ${t('internal_note')}` : '',
        role === 'agent' ? h('span', { class: 'receipt' }) : null));
    }
    // Entries arrive in seq order; a refetch may insert older ones before the newest.
    const after = [...list.querySelectorAll('[data-seq]')].find((node) => Number(node.dataset.seq) > frame.seq);
    const firstPending = list.querySelector('[data-pending]');
    list.insertBefore(el, after || firstPending || null);
    renderReceipts(chat);
    list.scrollTop = list.scrollHeight;
  }

  function appendPending(chat, item) {
    const el = h('li', { class: `msg agent${item.internal ? ' note' : ''}`, testid: 'pending-message',
      dataset: { clientMsgId: item.client_msg_id, pending: 'true', role: 'agent' } },
    h('div', { class: 'bubble', testid: 'message-body' }, item.body),
    h('div', { class: 'meta' }, t('sending')));
    chat.view.list.appendChild(el);
    chat.view.list.scrollTop = chat.view.list.scrollHeight;
  }

  // --- composer ---------------------------------------------------------------------------
  function createComposer(chat) {
    const input = h('textarea', { class: 'composer-input', testid: 'composer', rows: 3,
      placeholder: t('composer_placeholder'), 'aria-label': t('composer_placeholder') });
    const noteToggle = h('input', { type: 'checkbox', testid: 'note-toggle' });
    const popup = h('ul', { class: 'quick-popup', testid: 'quick-replies', role: 'listbox', hidden: true });
    let options = [];
    let highlighted = 0;
    let lastTyping = 0;
    let lookup = 0;

    noteToggle.addEventListener('change', () => {
      input.placeholder = noteToggle.checked ? t('note_placeholder') : t('composer_placeholder');
      root.classList.toggle('noting', noteToggle.checked);
    });

    async function searchReplies(params) {
      const ticket = ++lookup;
      let found = [];
      try {
        found = (await api.get(`/api/v1/quick-replies?${new URLSearchParams(params)}`)).quick_replies || [];
      } catch (error) {
        if (ticket !== lookup) return;
        mount(popup, h('li', { class: 'empty' }, error.status === 404 ? t('not_available') : t('error', { message: error.message })));
        popup.hidden = false;
        return;
      }
      if (ticket !== lookup) return;
      options = found;
      highlighted = 0;
      showOptions();
    }

    function showOptions() {
      popup.hidden = false;
      mount(popup, options.length ? options.map((reply, index) => h('li', {
        class: `quick-item${index === highlighted ? ' hl' : ''}`, testid: 'quick-reply-item', role: 'option',
        dataset: { shortcut: reply.shortcut, id: reply.id },
        onmousedown: (event) => { event.preventDefault(); pick(reply); },
      }, h('strong', {}, reply.shortcut), ' ', h('span', {}, reply.title || ''),
      h('div', { class: 'small' }, reply.text))) : h('li', { class: 'empty' }, t('no_quick')));
    }

    async function pick(reply) {
      popup.hidden = true;
      options = [];
      let text = reply.text;
      try {
        text = (await api.post(`/api/v1/quick-replies/${encodeURIComponent(reply.id)}/render`,
          { conversation_id: chat.id })).text;
      } catch {
        // keep the raw text: the agent can still edit it before sending
      }
      input.value = text;
      input.focus();
      input.setSelectionRange(text.length, text.length);
    }

    function send() {
      const body = input.value.trim();
      if (!body) return;
      const internal = noteToggle.checked;
      const clientMsgId = app.socket.sendMessage(chat.id, body, internal);
      appendPending(chat, { client_msg_id: clientMsgId, body, internal });
      input.value = '';
      popup.hidden = true;
      app.socket.sendFrame({ type: 'typing', conversation_id: chat.id, active: false });
      lastTyping = 0;
    }

    input.addEventListener('input', () => {
      const value = input.value;
      if (value.startsWith('/') && !value.includes(' ') && value.length <= 33) {
        searchReplies({ prefix: value });
      } else if (!popup.hidden && !popup.dataset.search) {
        popup.hidden = true;
      }
      if (!noteToggle.checked && Date.now() - lastTyping > 3000) {
        lastTyping = Date.now();
        app.socket.sendFrame({ type: 'typing', conversation_id: chat.id, active: true });
      }
    });
    input.addEventListener('keydown', (event) => {
      if (!popup.hidden && options.length) {
        if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
          event.preventDefault();
          highlighted = (highlighted + (event.key === 'ArrowDown' ? 1 : -1) + options.length) % options.length;
          showOptions();
          return;
        }
        if (event.key === 'Enter' || event.key === 'Tab') {
          event.preventDefault();
          pick(options[highlighted]);
          return;
        }
      }
      if (event.key === 'Escape') popup.hidden = true;
      if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        send();
      }
    });
    input.addEventListener('blur', () => {
      setTimeout(() => { popup.hidden = true; }, 150);
    });

    const search = h('input', { type: 'search', class: 'quick-search', testid: 'quick-search',
      placeholder: t('search_quick'), 'aria-label': t('search_quick') });
    search.addEventListener('input', () => {
      if (search.value.trim()) searchReplies({ q: search.value.trim() });
      else popup.hidden = true;
    });
    search.addEventListener('blur', () => setTimeout(() => { popup.hidden = true; }, 150));

    const root = h('div', { class: 'composer' },
      popup,
      input,
      h('div', { class: 'composer-bar' },
        h('label', { class: 'note-label' }, noteToggle, ' ', t('internal_note')),
        search,
        h('button', { class: 'primary', testid: 'send', onclick: send }, t('send'))));
    return { root, input };
  }

  // --- dialogs ----------------------------------------------------------------------------
  async function transferDialog(chat) {
    let targets = { agents: [], skill_groups: [] };
    try {
      targets = await api.get('/api/v1/transfer-targets');
    } catch (error) {
      app.toast(t('error', { message: error.message }));
    }
    const agentSelect = h('select', { testid: 'transfer-agent' }, h('option', { value: '' }, t('none')),
      targets.agents.filter((a) => a.agent_id !== me.agent_id).map((a) => h('option', { value: a.agent_id },
        `${a.name} (${a.agent_id}) · ${t(a.status)} · ${a.load}/${a.capacity}`)));
    const skillSelect = h('select', { testid: 'transfer-skill' }, h('option', { value: '' }, t('none')),
      targets.skill_groups.map((name) => h('option', { value: name }, name)));
    const note = h('textarea', { testid: 'transfer-note-input', rows: 3, maxlength: 1000 });
    app.dialog(t('transfer'), [
      h('label', {}, t('transfer_to_agent'), agentSelect),
      h('label', {}, t('transfer_to_skill'), skillSelect),
      h('label', {}, t('note'), note),
    ], () => {
      const frame = { type: 'transfer', conversation_id: chat.id, note: note.value.trim() };
      if (agentSelect.value) frame.to_agent = agentSelect.value;
      else if (skillSelect.value) frame.to_skill = skillSelect.value;
      else return false;
      return app.socket.sendFrame(frame);
    });
  }

  function closeDialog(chat) {
    const select = h('select', { testid: 'disposition' },
      DISPOSITIONS.map((d) => h('option', { value: d }, t(`disp_${d}`))));
    app.dialog(t('close_chat'), [h('label', {}, t('disposition'), select)],
      () => app.socket.sendFrame({ type: 'close', conversation_id: chat.id, disposition: select.value }));
  }

  function ticketDialog(chat) {
    const category = h('input', { testid: 'ticket-category', value: chat.conversation.skill || 'general', maxlength: 64 });
    const message = h('textarea', { testid: 'ticket-message', rows: 4, maxlength: 4000 });
    app.dialog(t('create_ticket'), [h('label', {}, t('category'), category), h('label', {}, t('message'), message)],
      async () => {
        try {
          const answer = await api.post('/api/v1/tickets', { conversation_id: chat.id, category: category.value.trim(),
            message: message.value.trim() || undefined });
          app.toast(t('ticket_created', { id: answer.ticket?.ticket_id || '' }), 'ticket-created');
          return true;
        } catch (error) {
          app.toast(error.status === 404 && error.code === 'http_404' ? t('not_available') : t('error', { message: error.message }));
          return false;
        }
      });
  }

  // Waiting times and offer countdowns tick every second.
  setInterval(() => {
    renderInbox();
    const chat = chats.get(activeId);
    if (chat) {
      renderTyping(chat);
      if (chat.conversation.state === 'offered') renderHeader(chat);
    }
  }, 1000);

  return {
    root,
    handle,
    open,
    chats,
    watched: () => [...chats.values()].filter((c) => c.watching).map((c) => c.id),
    get activeId() { return activeId; },
  };
}
