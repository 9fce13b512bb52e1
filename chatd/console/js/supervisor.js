/**
 * The supervisor view: live queues per skill group, every agent's status, load,
 * current chats and today's counts; monitor a chat read-only, reassign it, and
 * read why the router sent it where it went.
 *
 * It reads GET /api/v1/floor every two seconds and at once when the router's
 * `queue_stats` frames (the floor channel) say a queue changed.
 */

import { h, mount, duration, dateTime } from './dom.js';

const POLL_MS = 2000;

export function createSupervisor(app) {
  const { t, api } = app;
  const root = h('div', { class: 'supervisor', testid: 'supervisor' });
  let floor = null;
  let timer = null;
  let inFlight = false;
  let again = false;

  async function refresh() {
    if (inFlight) {
      again = true;
      return;
    }
    inFlight = true;
    try {
      const tz = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
      floor = await api.get(`/api/v1/floor?tz=${encodeURIComponent(tz)}`);
      render();
    } catch (error) {
      mount(root, h('p', { class: 'empty' }, t('error', { message: error.message })));
    } finally {
      inFlight = false;
      if (again) {
        again = false;
        refresh();
      }
    }
  }

  function render() {
    const totals = floor.totals;
    mount(root,
      h('div', { class: 'totals', testid: 'floor-totals' },
        stat(t('queued_total'), totals.queued, 'total-queued'),
        stat(t('active_total'), totals.active, 'total-active'),
        stat(t('closed_today_total'), totals.closed_today, 'total-closed'),
        stat(t('abandoned_today_total'), totals.abandoned_today, 'total-abandoned')),
      h('h2', {}, t('queues')),
      h('div', { class: 'table-wrap' }, h('table', { class: 'grid', testid: 'queues' },
        h('thead', {}, h('tr', {}, [t('skill_group'), t('length'), t('longest_wait'), t('predicted_wait'), t('on_shift')]
          .map((label) => h('th', {}, label)))),
        h('tbody', {}, floor.queues.map((q) => h('tr', { testid: 'queue-row', dataset: { skill: q.skill } },
          h('td', {}, q.skill),
          h('td', { testid: 'queue-length', class: q.length ? 'hot' : '' }, String(q.length)),
          h('td', {}, q.length ? duration(q.longest_wait_seconds) : t('none')),
          h('td', {}, q.predicted_wait_seconds === null || q.predicted_wait_seconds === undefined ? '∞'
            : duration(q.predicted_wait_seconds)),
          h('td', {}, `${q.agents_on_shift} (${q.capacity_on_shift})`)))))),
      floor.queues.some((q) => q.conversations.length) ? h('ul', { class: 'queued' },
        floor.queues.flatMap((q) => q.conversations.map((c) => h('li', { testid: 'queued-conversation', dataset: { cid: c.conversation_id } },
          `${q.skill} · ${c.visitor_name || c.conversation_id} · ${duration(floor.at - c.queued_at)} `,
          chatActions(c.conversation_id))))) : null,
      h('h2', {}, t('agents')),
      agentsTable(),
      h('p', { class: 'small' }, dateTime(floor.at, app.locale)));
  }

  function agentsTable() {
    const head = [t('agent'), t('status'), t('load'), t('current_chats'), t('today_closed')].map((label) => h('th', {}, label));
    const rows = floor.agents.map((a) => {
      const chatsList = h('ul', { class: 'chips' }, a.conversations.map((c) => h('li', {
        testid: 'agent-chat', dataset: { cid: c.conversation_id } },
      `${c.visitor_name || c.conversation_id} · ${c.state} · ${duration(floor.at - c.since)} `,
      chatActions(c.conversation_id))));
      return h('tr', { testid: 'agent-row', dataset: { agent: a.agent_id, status: a.status } },
        h('td', {}, h('strong', {}, a.name), h('div', { class: 'small' }, `${a.agent_id} · ${a.role}`)),
        h('td', {}, h('span', { class: `dot ${a.status}` }), t(a.status), a.connected || a.status === 'offline' ? '' : ` (${t('conn_stopped')})`),
        h('td', { testid: 'agent-load' }, `${a.load}/${a.capacity}`),
        h('td', {}, chatsList),
        h('td', { testid: 'agent-today' }, String(a.today.closed)));
    });
    return h('div', { class: 'table-wrap' },
      h('table', { class: 'grid', testid: 'agents' }, h('thead', {}, h('tr', {}, head)), h('tbody', {}, rows)));
  }

  function stat(label, value, testid) {
    return h('div', { class: 'stat' }, h('div', { class: 'value', testid }, String(value)), h('div', { class: 'label' }, label));
  }

  function chatActions(conversationId) {
    return h('span', { class: 'chat-actions' },
      h('button', { class: 'link', testid: 'monitor', onclick: () => app.monitor(conversationId) }, t('monitor')),
      h('button', { class: 'link', testid: 'reassign', onclick: () => reassignDialog(conversationId) }, t('reassign')),
      h('button', { class: 'link', testid: 'routing', onclick: () => routingDialog(conversationId) }, t('routing')));
  }

  function reassignDialog(conversationId) {
    const agents = h('select', { testid: 'reassign-agent' }, h('option', { value: '' }, t('none')),
      (floor?.agents || []).map((a) => h('option', { value: a.agent_id }, `${a.name} · ${t(a.status)} · ${a.load}/${a.capacity}`)));
    const skills = h('select', { testid: 'reassign-skill' }, h('option', { value: '' }, t('none')),
      (floor?.queues || []).map((q) => h('option', { value: q.skill }, q.skill)));
    const note = h('textarea', { testid: 'reassign-note', rows: 3, maxlength: 1000 });
    app.dialog(t('reassign'), [
      h('label', {}, t('transfer_to_agent'), agents), h('label', {}, t('transfer_to_skill'), skills), h('label', {}, t('note'), note),
    ], async () => {
      const body = { note: note.value.trim() };
      if (agents.value) body.to_agent = agents.value;
      else if (skills.value) body.to_skill = skills.value;
      else return false;
      try {
        await api.post(`/api/v1/conversations/${encodeURIComponent(conversationId)}/reassign`, body);
        refresh();
        return true;
      } catch (error) {
        app.toast(t('error', { message: `${error.code}: ${error.message}` }));
        return false;
      }
    });
  }

  async function routingDialog(conversationId) {
    let answer;
    try {
      answer = await api.get(`/api/v1/conversations/${encodeURIComponent(conversationId)}/routing`);
    } catch (error) {
      app.toast(t('error', { message: error.message }));
      return;
    }
    const items = answer.decisions.map((d) => h('li', { class: 'decision', testid: 'routing-decision' },
      h('div', {}, h('strong', {}, d.kind), ` ${d.action || ''} ${d.outcome || ''} · ${d.stage || ''} · `,
        d.agent_id || d.to_agent || d.to_skill || '', d.reason ? ` · ${d.reason}` : '',
        d.at || d.decided_at ? ` · ${dateTime(d.at || d.decided_at, app.locale)}` : ''),
      d.note ? h('div', { class: 'small' }, t('transfer_note', { note: d.note })) : null,
      d.candidates?.length ? h('table', { class: 'grid small' },
        h('thead', {}, h('tr', {}, ['agent', 'kept', 'reason', 'score', 'load'].map((x) => h('th', {}, x)))),
        h('tbody', {}, d.candidates.map((c) => h('tr', {}, h('td', {}, c.agent_id), h('td', {}, c.kept ? '✓' : '✗'),
          h('td', {}, c.reason), h('td', {}, c.score === null ? '' : Number(c.score).toFixed(3)),
          h('td', {}, `${c.active}/${c.capacity}`))))) : null));
    app.dialog(t('routing_explanation'), [h('ol', { class: 'decisions', testid: 'routing-explanation' }, items)], () => true);
  }

  return {
    root,
    start() {
      refresh();
      clearInterval(timer);
      timer = setInterval(refresh, POLL_MS);
    },
    stop() {
      clearInterval(timer);
      timer = null;
    },
    handle(frame) {
      if (frame.type === 'queue_stats' && timer) refresh();
    },
  };
}
