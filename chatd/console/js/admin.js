/**
 * Admin pages: agents (skills with proficiency, capacity, role), shifts, skill
 * groups and routing settings, quick replies, knowledge-base entries, overflow
 * rules, widget sites (with each site's event-webhook delivery log) and API
 * keys (a new key's token is shown once). Each is a table of records and a
 * JSON editor that saves through the HTTP API, whose validation messages are
 * shown as they come.
 */

import { h, mount } from './dom.js';

const when = (seconds) => (seconds ? new Date(seconds * 1000).toLocaleString() : '');
const skillsText = (skills) => Object.entries(skills || {}).map(([k, v]) => `${k}:${v}`).join(' ');

const RESOURCES = [
  { name: 'agents_admin', list: '/api/v1/agents', key: 'agent_id', create: 'POST', update: 'PATCH',
    columns: [['agent_id'], ['name'], ['role'], ['capacity'], ['skills', skillsText], ['status']],
    template: { agent_id: 'new.agent', name: 'New Agent', password: 'change-me-please', role: 'agent',
      skills: { general: 3 }, capacity: 3 } },
  { name: 'schedules', list: '/api/v1/schedules', key: 'owner', create: 'PUT', update: 'PUT',
    columns: [['owner'], ['timezone'], ['hours', (v) => JSON.stringify(v)]],
    template: { owner: 'ana', timezone: 'Asia/Shanghai', hours: { 'mon-fri': '09:00-18:00' } } },
  { name: 'skill_groups', list: '/api/v1/skill-groups', key: 'name', create: 'PUT', update: 'PUT',
    columns: [['name'], ['algorithm'], ['auto_accept', String], ['offer_timeout_seconds'], ['fallback_group']],
    template: { name: 'logistics', algorithm: 'skills_load', auto_accept: false, offer_timeout_seconds: 30 } },
  { name: 'quick_replies', list: '/api/v1/quick-replies', key: 'id', create: 'POST', update: 'PATCH',
    columns: [['shortcut'], ['title'], ['category'], ['owner'], ['text']],
    template: { shortcut: '/thanks', title: 'Thanks', text: '感谢您的耐心等待，{visitor.name}！', category: 'general', scope: 'team' } },
  { name: 'kb', list: '/api/v1/kb/entries', key: 'id', create: 'POST', update: 'PATCH',
    columns: [['id'], ['question'], ['category'], ['answer']],
    template: { question: '多久发货？', variants: ['什么时候发货'], answer: '付款后 24 小时内发货。', keywords: ['发货'], category: 'logistics' } },
  { name: 'overflow', list: '/api/v1/overflow-rules', key: 'skill_group', create: 'PUT', update: 'PUT',
    columns: [['skill_group'], ['max_queue'], ['max_wait_seconds'], ['peak', (v) => (v ? JSON.stringify(v) : '')],
      ['business_hours', (v) => (v ? JSON.stringify(v) : '')]],
    template: { skill_group: 'general', max_queue: 10, max_wait_seconds: 120,
      peak: { timezone: 'Asia/Shanghai', daily: ['20:00-22:00'], dates: ['06-18', '11-11'] },
      business_hours: { timezone: 'Asia/Shanghai', weekly: { 'mon-fri': ['09:00-21:00'], sat: ['10:00-18:00'] } } } },
  { name: 'sites', list: '/api/v1/sites', key: 'site_key', create: 'POST', update: 'PATCH',
    columns: [['site_key'], ['name'], ['default_skill'], ['allowed_origins', (v) => (v || []).join(' ')], ['theme_color']],
    template: { site_key: 'shop', name: 'Shop', allowed_origins: ['https://shop.example.com'], default_skill: 'general' },
    deliveries: true },
  { name: 'api_keys', list: '/api/v1/api-keys', key: 'key_id', create: 'POST', update: null,
    columns: [['key_id'], ['name'], ['scopes', (v) => (v || []).join(' ')], ['created_at', when], ['revoked_at', when]],
    template: { name: 'orders backend', scopes: ['conversations:read', 'conversations:write'] }, deleteLabel: 'revoke' },
];

const DELIVERY_COLUMNS = [['at', when], ['event_type', null, 'type'], ['attempt'], ['http_status', null, 'status'],
  ['outcome'], ['retry_at', when]];

function firstList(answer) {
  if (Array.isArray(answer)) return answer;
  for (const value of Object.values(answer || {})) if (Array.isArray(value)) return value;
  return [];
}

export function createAdmin(app) {
  const { t, api } = app;
  const nav = h('div', { class: 'subnav', role: 'tablist' });
  const body = h('div', { class: 'admin-body' });
  const root = h('div', { class: 'admin', testid: 'admin' }, nav, body);
  let current = RESOURCES[0];

  function renderNav() {
    mount(nav, RESOURCES.map((resource) => h('button', {
      class: resource === current ? 'active' : '', role: 'tab', testid: `admin-tab-${resource.name}`,
      onclick: () => { current = resource; show(); },
    }, t(resource.name))));
  }

  async function show() {
    renderNav();
    const resource = current;
    let records;
    try {
      records = firstList(await api.get(resource.list));
    } catch (error) {
      if (resource !== current) return;
      mount(body, h('p', { class: 'empty', testid: 'admin-error' },
        error.status === 404 && error.code === 'http_404' ? t('not_available') : t('error', { message: error.message })));
      return;
    }
    if (resource !== current) return;
    const editor = h('textarea', { class: 'json', testid: 'admin-editor', rows: 12, spellcheck: 'false' });
    const status = h('p', { class: 'small', testid: 'admin-status', role: 'status' });
    let editing = null;

    function edit(record) {
      editing = record;
      const shown = { ...(record || resource.template) };
      delete shown.password_hash;
      editor.value = JSON.stringify(shown, null, 2);
      status.textContent = record ? `${t('edit')}: ${record[resource.key]}` : t('create');
    }

    async function save() {
      let value;
      try {
        value = JSON.parse(editor.value);
      } catch (error) {
        status.textContent = t('error', { message: error.message });
        return;
      }
      const key = editing ? editing[resource.key] : value[resource.key];
      const method = editing ? resource.update : resource.create;
      if (!method) {
        status.textContent = t('error', { message: 'read-only' });
        return;
      }
      const path = method === 'POST' ? resource.list : `${resource.list}/${encodeURIComponent(key)}`;
      if (method !== 'POST') delete value[resource.key];
      try {
        const answer = await (method === 'POST' ? api.post(path, value) : method === 'PUT' ? api.put(path, value) : api.patch(path, value));
        await show();
        if (answer && answer.token) {
          mount(body.querySelector('[data-testid=admin-status]') || status,
            h('span', { testid: 'admin-token' }, t('token_once', { token: answer.token })));
        } else {
          (body.querySelector('[data-testid=admin-status]') || status).textContent = t('saved');
        }
      } catch (error) {
        status.textContent = t('error', { message: `${error.code}: ${error.message}` });
      }
    }

    async function remove(record) {
      try {
        await api.del(`${resource.list}/${encodeURIComponent(record[resource.key])}`);
        show();
      } catch (error) {
        status.textContent = t('error', { message: `${error.code}: ${error.message}` });
      }
    }

    const log = h('div', { class: 'deliveries', testid: 'admin-deliveries' });

    async function showDeliveries(record) {
      const site = record[resource.key];
      let rows;
      try {
        rows = (await api.get(`/api/v1/sites/${encodeURIComponent(site)}/deliveries?limit=100`)).deliveries;
      } catch (error) {
        mount(log, h('p', { class: 'empty' }, t('error', { message: error.message })));
        return;
      }
      mount(log, h('h3', {}, t('deliveries_of', { site })),
        rows.length === 0 ? h('p', { class: 'empty', testid: 'delivery-empty' }, t('no_deliveries'))
          : h('div', { class: 'table-wrap' }, h('table', { class: 'grid', testid: 'delivery-table' },
            h('thead', {}, h('tr', {}, DELIVERY_COLUMNS.map(([label]) => h('th', {}, t(label))))),
            h('tbody', {}, rows.map((row) => h('tr', { testid: 'delivery-row' },
              DELIVERY_COLUMNS.map(([label, format, field]) => {
                const value = row[field || label];
                return h('td', {}, format ? format(value) : String(value ?? ''));
              })))))),
        h('button', { class: 'link', onclick: () => mount(log) }, t('close_log')));
    }

    edit(null);
    mount(body,
      h('div', { class: 'table-wrap' }, h('table', { class: 'grid', testid: 'admin-table' },
        h('thead', {}, h('tr', {}, resource.columns.map(([name]) => h('th', {}, name)), h('th', {}))),
        h('tbody', {}, records.map((record) => h('tr', { testid: 'admin-row', dataset: { key: String(record[resource.key] ?? '') } },
          resource.columns.map(([name, format]) => h('td', {}, format ? format(record[name]) : String(record[name] ?? ''))),
          h('td', {}, resource.update ? h('button', { class: 'link', onclick: () => edit(record) }, t('edit')) : null,
            resource.deliveries ? h('button', { class: 'link', testid: 'admin-deliveries-open',
              onclick: () => showDeliveries(record) }, t('deliveries')) : null,
            h('button', { class: 'link danger', onclick: () => remove(record) },
              t(resource.deleteLabel || 'delete')))))))),
      log,
      h('div', { class: 'editor' },
        editor,
        h('div', { class: 'bar' }, h('button', { onclick: () => edit(null) }, t('create')),
          h('button', { class: 'primary', testid: 'admin-save', onclick: save }, t('save'))),
        status));
  }

  return { root, show };
}
