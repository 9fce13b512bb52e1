/**
 * The customer panel beside a conversation: profile (name, contact, VIP level,
 * attributes from the widget), the current page, past conversations with their
 * transcripts, and orders from the customer-info webhook.
 */

import { h, mount, dateTime, safeUrl } from './dom.js';

export function createCustomerPanel(app, conversationId) {
  const { t, api } = app;
  const root = h('div', { class: 'customer', testid: 'customer-panel' }, h('p', { class: 'empty' }, '…'));
  const base = `/api/v1/conversations/${encodeURIComponent(conversationId)}/customer`;

  async function load() {
    let panel;
    try {
      panel = await api.get(base);
    } catch (error) {
      mount(root, h('p', { class: 'empty', testid: 'customer-error' }, t('error', { message: error.message })));
      return;
    }
    render(panel);
  }

  function field(label, value, testid) {
    return [h('dt', {}, label), h('dd', { testid }, value === '' || value === null || value === undefined ? t('none') : value)];
  }

  function render(panel) {
    const v = panel.visitor;
    const contact = [v.email, v.phone].filter(Boolean).join(' · ');
    const page = safeUrl(v.current_page);
    const info = panel.customer_info || { status: 'disabled', orders: [] };
    mount(root,
      h('header', { class: 'customer-head' }, h('h3', {}, t('profile')),
        h('button', { class: 'link', onclick: load, 'aria-label': t('refresh') }, '↻')),
      h('dl', { class: 'profile' },
        field(t('name'), v.name, 'customer-name'),
        field('ID', `${v.user_id || v.visitor_id} (${v.verified ? t('verified') : t('anonymous')})`, 'customer-id'),
        field(t('contact'), contact, 'customer-contact'),
        field(t('vip'), v.vip ? `VIP ${v.vip}` : '', 'customer-vip'),
        field(t('current_page'), page ? h('a', { href: page, target: '_blank', rel: 'noopener noreferrer' }, page)
          : v.current_page, 'customer-page'),
        Object.entries({ ...v.attributes, ...info.attributes }).map(([key, value]) => field(key, String(value), 'customer-attribute'))),
      h('h3', {}, t('orders')),
      orders(info),
      h('h3', {}, t('past_conversations')),
      h('ul', { class: 'history', testid: 'customer-history' },
        panel.history.length ? panel.history.map((past) => h('li', { testid: 'history-item', dataset: { cid: past.conversation_id } },
          h('span', {}, `${dateTime(past.created_at, app.locale)} · ${past.skill} · ${past.state}`),
          h('button', { class: 'link', onclick: () => transcript(past.conversation_id) }, t('show_transcript'))))
          : h('li', { class: 'empty' }, t('none'))));
  }

  function orders(info) {
    if (info.status !== 'ok') {
      return h('p', { class: 'empty', testid: 'orders-unavailable' }, t('orders_unavailable', { detail: info.detail || info.status }));
    }
    if (!info.orders.length) return h('p', { class: 'empty' }, t('no_orders'));
    return h('ul', { class: 'orders', testid: 'orders' }, info.orders.map((order) => {
      const link = safeUrl(order.url);
      const amount = order.amount === null ? '' : new Intl.NumberFormat(app.locale, {
        style: 'currency', currency: /^[A-Z]{3}$/.test(order.currency) ? order.currency : 'CNY' }).format(order.amount);
      return h('li', { class: 'order', testid: 'order-item', dataset: { orderId: order.order_id } },
        h('div', { class: 'row' }, link ? h('a', { href: link, target: '_blank', rel: 'noopener noreferrer' }, order.order_id)
          : h('span', {}, order.order_id), h('span', { class: `status ${order.status}` }, order.status)),
        h('div', {}, order.title),
        h('div', { class: 'row small' }, h('span', {}, amount), h('span', {}, dateTime(order.created_at, app.locale))));
    }));
  }

  async function transcript(pastId) {
    let page;
    try {
      page = await api.get(`${base}/conversations/${encodeURIComponent(pastId)}`);
    } catch (error) {
      app.toast(t('error', { message: error.message }));
      return;
    }
    const lines = page.entries.filter((e) => e.kind !== 'event').map((e) => h('li', { class: `msg ${e.sender_role}` },
      h('div', { class: 'bubble' }, e.body), h('div', { class: 'meta' }, `${e.sender_role} · ${dateTime(e.ts, app.locale)}`)));
    app.dialog(t('show_transcript'), [h('ol', { class: 'log transcript', testid: 'transcript' }, lines)], () => true);
  }

  load();
  return { root, load };
}
