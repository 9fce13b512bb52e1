/**
 * The history view: closed conversations from the archive, filtered by date,
 * agent, skill group, site, customer, outcome and rating, and full-text
 * search over their messages with the matches marked. Agents see the
 * conversations they handled; supervisors and admins see all.
 *
 * It reads GET /api/v1/history (docs/api.md) and a conversation's transcript
 * from GET /api/v1/conversations/{id}/messages.
 */

import { h, mount, dateTime } from './dom.js';

const PAGE = 50;
const OUTCOMES = ['bot_resolved', 'human', 'abandoned', 'left_message'];

export function createHistory(app) {
  const { t, api, me, locale } = app;
  const field = (name, input) => h('label', {}, t(name), input);
  const q = h('input', { type: 'search', name: 'q', testid: 'history-q', placeholder: t('history_q_hint') });
  const since = h('input', { type: 'date', name: 'since', testid: 'history-since' });
  const until = h('input', { type: 'date', name: 'until', testid: 'history-until' });
  const agent = h('input', { name: 'agent', testid: 'history-agent', value: me.role === 'agent' ? me.agent_id : '',
    disabled: me.role === 'agent' });
  const skill = h('input', { name: 'skill', testid: 'history-skill' });
  const site = h('input', { name: 'site', testid: 'history-site' });
  const visitor = h('input', { name: 'visitor', testid: 'history-visitor' });
  const outcome = h('select', { name: 'outcome', testid: 'history-outcome' },
    h('option', { value: '' }, t('any')), OUTCOMES.map((o) => h('option', { value: o }, t(`outcome_${o}`))));
  const rating = h('select', { name: 'rating', testid: 'history-rating' },
    h('option', { value: '' }, t('any')), [5, 4, 3, 2, 1].map((n) => h('option', { value: String(n) }, '★'.repeat(n))));
  const error = h('p', { class: 'error', role: 'alert', testid: 'history-error' });
  const results = h('div', { class: 'table-wrap', testid: 'history-results' });
  const more = h('button', { testid: 'history-more', hidden: true, onclick: () => load(true) }, t('more'));
  const transcript = h('div', { class: 'transcript', testid: 'history-transcript' });
  let offset = 0;
  let rows = [];
  let searching = false;

  const form = h('form', { class: 'filters', testid: 'history-form', onsubmit: (event) => {
    event.preventDefault();
    load(false);
  } },
  field('history_q', q), field('since', since), field('until', until), field('agent_id', agent),
  field('skill_group', skill), field('site', site), field('visitor_id', visitor), field('outcome', outcome),
  field('rating', rating), h('button', { class: 'primary', type: 'submit', testid: 'history-submit' }, t('search')));
  const root = h('div', { class: 'history', testid: 'history' }, h('h2', {}, t('history')), form, error, results,
    more, transcript);

  function params() {
    const p = new URLSearchParams();
    const day = (input, end) => {
      if (!input.value) return '';
      const at = new Date(`${input.value}T00:00:00`);
      if (end) at.setDate(at.getDate() + 1);
      return String(at.getTime() / 1000);
    };
    const values = { q: q.value.trim(), since: day(since, false), until: day(until, true),
      agent: me.role === 'agent' ? '' : agent.value.trim(), skill: skill.value.trim(), site: site.value.trim(),
      visitor: visitor.value.trim(), outcome: outcome.value, rating: rating.value };
    for (const [name, value] of Object.entries(values)) if (value) p.set(name, value);
    p.set('limit', String(PAGE));
    p.set('offset', String(offset));
    return p;
  }

  async function load(next) {
    error.textContent = '';
    offset = next ? offset + PAGE : 0;
    if (!next) rows = [];
    try {
      const answer = await api.get(`/api/v1/history?${params()}`);
      searching = Boolean(answer.hits);
      const page = answer.hits || answer.conversations;
      rows = rows.concat(page);
      more.hidden = page.length < PAGE;
      render();
    } catch (err) {
      error.textContent = t('error', { message: err.message });
    }
  }

  function fragments(hit) {
    return (hit.fragments || []).map((piece) => (piece.hit ? h('mark', {}, piece.text) : piece.text));
  }

  function render() {
    if (!rows.length) {
      mount(results, h('p', { class: 'empty', testid: 'history-empty' }, t('no_results')));
      return;
    }
    const heads = searching
      ? [t('closed_at'), t('agent_id'), t('visitor_id'), t('from_whom'), t('message'), '']
      : [t('closed_at'), t('agent_id'), t('visitor_id'), t('skill_group'), t('site'), t('outcome'), t('messages'), ''];
    const body = rows.map((row) => {
      const c = searching ? row.conversation : row;
      const open = h('button', { testid: 'history-open', onclick: () => show(c.conversation_id) }, t('show_transcript'));
      const cells = searching
        ? [dateTime(c.closed_at, locale), c.agent_id || t('none'), c.visitor_id, t(row.sender_role),
          h('span', { testid: 'history-hit' }, fragments(row)), open]
        : [dateTime(c.closed_at, locale), c.agent_id || t('none'), c.visitor_id, c.skill, c.site_key,
          t(`outcome_${c.outcome}`), String(c.messages), open];
      return h('tr', { testid: 'history-row', dataset: { conversation: c.conversation_id } },
        cells.map((cell) => h('td', {}, cell)));
    });
    mount(results, h('table', { class: 'grid', testid: 'history-table' },
      h('thead', {}, h('tr', {}, heads.map((label) => h('th', {}, label)))), h('tbody', {}, body)));
  }

  async function show(conversationId) {
    try {
      const page = await api.get(`/api/v1/conversations/${encodeURIComponent(conversationId)}/messages?limit=500`);
      mount(transcript, h('h3', {}, t('transcript_of', { id: conversationId })),
        h('ol', { class: 'lines' }, page.entries.filter((e) => e.kind === 'message').map((e) => h('li', {
          testid: 'history-line', dataset: { role: e.sender_role } },
        h('span', { class: 'who' }, `${t(e.sender_role)} · ${dateTime(e.ts, locale)}`), ' ', e.body))));
    } catch (err) {
      error.textContent = t('error', { message: err.message });
    }
  }

  return { root, show: () => { if (!rows.length) load(false); } };
}
