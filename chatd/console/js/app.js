/**
 * The console's entry point: login, the header (views, status, connection,
 * language), the socket, and the views: workspace, history, supervisor, admin.
 */

import { h, mount } from './dom.js';
import { LOCALES, pickLocale, translator } from './i18n.js';
import { createApi } from './api.js';
import { AgentSocket } from './socket.js';
import { createNotifier } from './notify.js';
import { createWorkspace } from './workspace.js';
import { createSupervisor } from './supervisor.js';
import { createAdmin } from './admin.js';
import { createHistory } from './history.js';

const SESSION_KEY = 'chatd.console.session';
const LOCALE_KEY = 'chatd.console.locale';
const STATUS_KEY = 'chatd.console.status';
const STATUSES = ['online', 'away', 'offline'];

const rootEl = document.getElementById('app');
const locale = pickLocale(localStorage.getItem(LOCALE_KEY), navigator.language);
const t = translator(locale);
document.documentElement.lang = locale;
document.title = t('title');

function readSession() {
  try {
    return JSON.parse(localStorage.getItem(SESSION_KEY) || 'null');
  } catch {
    return null;
  }
}

function languagePicker() {
  return h('select', { class: 'lang', testid: 'language', 'aria-label': t('language'), onchange: (event) => {
    localStorage.setItem(LOCALE_KEY, event.target.value);
    location.reload();
  } }, LOCALES.map((code) => h('option', { value: code, selected: code === locale }, code === 'zh-CN' ? '中文' : 'English')));
}

function showLogin(message = '') {
  const notifier = createNotifier(() => t('title'));
  const id = h('input', { name: 'agent_id', testid: 'login-id', autocomplete: 'username', required: true });
  const password = h('input', { name: 'password', type: 'password', testid: 'login-password',
    autocomplete: 'current-password', required: true });
  const error = h('p', { class: 'error', testid: 'login-error', role: 'alert' }, message);
  const form = h('form', { class: 'login', testid: 'login-form', onsubmit: async (event) => {
    event.preventDefault();
    notifier.askPermission();
    error.textContent = '';
    try {
      const api = createApi('', () => '');
      const answer = await api.post('/api/v1/auth/login', { agent_id: id.value.trim(), password: password.value });
      localStorage.setItem(SESSION_KEY, JSON.stringify({ token: answer.token, agent: answer.agent }));
      start(readSession());
    } catch (err) {
      error.textContent = err.status === 401 ? t('login_failed') : t('error', { message: err.message });
    }
  } },
  h('h1', {}, t('title')),
  h('label', {}, t('agent_id'), id),
  h('label', {}, t('password'), password),
  h('button', { class: 'primary', type: 'submit', testid: 'login-submit' }, t('login')),
  error, languagePicker());
  mount(rootEl, form);
  id.focus();
}

function start(session) {
  const me = session.agent;
  const api = createApi('', () => session.token, () => logout());
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  const defaultStatus = me.role === 'agent' ? 'online' : 'away';
  const status = localStorage.getItem(`${STATUS_KEY}.${me.agent_id}`) || defaultStatus;
  const socket = new AgentSocket({ url: `${scheme}://${location.host}/ws/agent`, token: session.token,
    agentId: me.agent_id, status });
  let unreadTotal = 0;
  const notifier = createNotifier(() => (unreadTotal ? `(${unreadTotal}) ${t('title')}` : t('title')));
  const toasts = h('div', { class: 'toasts', testid: 'toasts', role: 'status' });
  const app = { t, api, me, locale, socket, notifier, toast, dialog, monitor };
  const workspace = createWorkspace(app);
  const supervisor = me.role === 'agent' ? null : createSupervisor(app);
  const admin = me.role === 'admin' ? createAdmin(app) : null;
  const history = createHistory(app);
  const views = { workspace: workspace.root, history: history.root, supervisor: supervisor?.root, admin: admin?.root };
  const main = h('div', { class: 'view' });
  let view = '';

  const connection = h('span', { class: 'connection', testid: 'connection', dataset: { status: 'connecting' } }, t('conn_connecting'));
  const statusSelect = h('select', { testid: 'status-select', 'aria-label': t('status'), onchange: () => {
    socket.status = statusSelect.value;
    localStorage.setItem(`${STATUS_KEY}.${me.agent_id}`, statusSelect.value);
    socket.sendFrame({ type: 'status', status: statusSelect.value });
  } }, STATUSES.map((s) => h('option', { value: s, selected: s === status }, t(s))));
  const navButtons = Object.entries(views).filter(([, el]) => el).map(([name]) => h('button', {
    class: 'nav', testid: `nav-${name}`, dataset: { view: name }, onclick: () => show(name) }, t(name)));

  const header = h('header', { class: 'top' },
    h('strong', { class: 'brand' }, 'chatd'),
    h('nav', { class: 'views' }, navButtons),
    h('div', { class: 'me' }, h('span', { testid: 'me' }, `${me.name} · ${me.role}`), statusSelect, connection,
      languagePicker(), h('button', { testid: 'logout', onclick: logout }, t('logout'))));
  mount(rootEl, header, main, toasts);

  function show(name) {
    view = name;
    for (const button of navButtons) button.classList.toggle('active', button.dataset.view === name);
    mount(main, views[name]);
    if (supervisor) {
      if (name === 'supervisor') supervisor.start();
      else supervisor.stop();
    }
    if (name === 'admin') admin.show();
    if (name === 'history') history.show();
  }

  function toast(text, testid = 'toast') {
    const el = h('div', { class: 'toast', testid }, text);
    toasts.appendChild(el);
    setTimeout(() => el.remove(), 6000);
  }

  function dialog(title, children, onConfirm) {
    const close = () => backdrop.remove();
    const confirm = h('button', { class: 'primary', testid: 'dialog-confirm', onclick: async () => {
      confirm.disabled = true;
      const ok = await onConfirm();
      confirm.disabled = false;
      if (ok !== false) close();
    } }, t('confirm'));
    const backdrop = h('div', { class: 'backdrop', onclick: (event) => { if (event.target === backdrop) close(); } },
      h('div', { class: 'dialog', role: 'dialog', 'aria-modal': 'true', 'aria-label': title, testid: 'dialog' },
        h('h2', {}, title), h('div', { class: 'dialog-body' }, children),
        h('div', { class: 'bar' }, h('button', { testid: 'dialog-cancel', onclick: close }, t('cancel')), confirm)));
    backdrop.addEventListener('keydown', (event) => { if (event.key === 'Escape') close(); });
    document.body.appendChild(backdrop);
    const first = backdrop.querySelector('select, input, textarea');
    if (first) first.focus();
  }

  function monitor(conversationId) {
    socket.sendFrame({ type: 'watch', conversation_id: conversationId });
    show('workspace');
  }

  function logout() {
    socket.stop();
    supervisor?.stop();
    api.post('/api/v1/auth/logout').catch(() => {});
    localStorage.removeItem(SESSION_KEY);
    location.reload();
  }

  socket.on((frame) => {
    if (frame.type === '_connection') {
      connection.dataset.status = frame.connection;
      connection.textContent = frame.connection === 'waiting'
        ? t('conn_waiting', { s: Math.ceil((frame.delay || 0) / 1000) }) : t(`conn_${frame.connection}`);
      return;
    }
    if (frame.type === '_unauthorized') {
      localStorage.removeItem(SESSION_KEY);
      socket.stop();
      showLogin(t('login_failed'));
      return;
    }
    if (frame.type === 'welcome') {
      for (const id of workspace.watched()) socket.sendFrame({ type: 'watch', conversation_id: id });
    }
    if (frame.type === 'status') {
      statusSelect.value = frame.status;
      socket.status = frame.status;
    }
    if (frame.type === 'error' && !(frame.ref || '').startsWith('send:')) {
      toast(t('error', { message: `${frame.code}: ${frame.message}` }), 'socket-error');
    }
    workspace.handle(frame);
    supervisor?.handle(frame);
    unreadTotal = [...workspace.chats.values()].reduce((sum, chat) => sum + chat.unread, 0);
    if (!document.hidden) document.title = unreadTotal ? `(${unreadTotal}) ${t('title')}` : t('title');
  });

  window.__chatdConsole = { socket, workspace, show };
  show('workspace');
  socket.connect();
}

const session = readSession();
if (session && session.token && session.agent) start(session);
else showLogin();
