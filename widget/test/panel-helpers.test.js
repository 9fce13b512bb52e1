import { test } from 'node:test';
import assert from 'node:assert/strict';

import { linkify, safeHref } from '../src/panel/linkify.js';
import { STRINGS, eventText, queueText, strings } from '../src/panel/i18n.js';
import { prechatConfig, validateContact, clean } from '../src/panel/validate.js';
import { quickReplies } from '../src/panel/messages.js';
import { pickLocale, textOn, themeColor } from '../src/theme.js';

test('linkify: http(s) links only, everything else stays text', () => {
  assert.deepEqual(linkify('see https://shop.example/o/1 now'), [
    { text: 'see ' },
    { text: 'https://shop.example/o/1', href: 'https://shop.example/o/1' },
    { text: ' now' },
  ]);
  for (const text of ['javascript:alert(1)', 'data:text/html,<b>x</b>', '<img src=x onerror=alert(1)>', 'ftp://x.example/a', 'www.example.com']) {
    assert.ok(linkify(text).every((s) => !s.href), text);
    assert.equal(linkify(text).map((s) => s.text).join(''), text);
  }
});

test('linkify: trailing punctuation and Chinese text around links', () => {
  assert.deepEqual(linkify('快递单号查询：https://kuaidi.example/q?id=9，谢谢').map((s) => s.href || null), [null, 'https://kuaidi.example/q?id=9', null]);
  assert.deepEqual(linkify('(see http://a.example/x).').map((s) => s.text), ['(see ', 'http://a.example/x', ').']);
  assert.equal(linkify('https://en.wikipedia.org/wiki/Foo_(bar)')[0].href, 'https://en.wikipedia.org/wiki/Foo_(bar)');
  const body = 'a https://x.example b http://y.example/z?q=1&r=2 c';
  assert.equal(linkify(body).map((s) => s.text).join(''), body, 'segments cover the text exactly');
  assert.equal(linkify('').length, 0);
});

test('safeHref refuses what is not http(s)', () => {
  assert.equal(safeHref('https://x.example'), 'https://x.example/');
  assert.equal(safeHref('javascript:alert(1)'), '');
  assert.equal(safeHref('http://'), '');
});

test('queue sentences in both languages', () => {
  assert.equal(queueText('zh-CN', { position: 3, eta_seconds: 120 }), '您前面还有 2 位，预计等待 2 分钟');
  assert.equal(queueText('zh-CN', { position: 1, eta_seconds: 20 }), '您是下一位，预计等待 1 分钟');
  assert.equal(queueText('zh-CN', { position: 4 }), '您前面还有 3 位');
  assert.equal(queueText('en', { position: 3, eta_seconds: 121 }), 'You are number 3, about 3 min');
  assert.equal(queueText('en', { position: 1, eta_seconds: 0 }), 'You are next');
  assert.equal(queueText('en', null), '');
});

test('both locales have the same strings', () => {
  const keys = (o) => Object.keys(o).sort();
  assert.deepEqual(keys(STRINGS['zh-CN']), keys(STRINGS.en));
  assert.deepEqual(keys(STRINGS['zh-CN'].events), keys(STRINGS.en.events));
  assert.equal(strings('zh-CN').read, '已读');
  assert.equal(strings('en').read, 'Read');
});

test('event lines', () => {
  const t = strings('zh-CN');
  const label = (id) => (id === 'ana' ? 'Ana' : id);
  assert.equal(eventText(t, { event: 'assigned', data: { agent_id: 'ana' } }, label), '客服 Ana 为您服务');
  assert.equal(eventText(t, { event: 'transferred', data: { to_skill: '售后' } }, label), '已为您转接至 售后');
  assert.equal(eventText(strings('en'), { event: 'closed', data: {} }, label), 'The chat has ended');
  assert.equal(eventText(t, { event: 'mystery', data: {} }, label), '');
});

test('pre-chat configuration and contact validation', () => {
  assert.equal(prechatConfig(undefined), null);
  assert.deepEqual(prechatConfig(true), { fields: ['name', 'phone', 'email'], required: ['name'], title: '' });
  assert.deepEqual(prechatConfig(['email', 'age']), { fields: ['email'], required: [], title: '' });
  assert.deepEqual(prechatConfig({ fields: ['name', 'phone'], required: ['phone', 'email'], title: 'Hi' }), { fields: ['name', 'phone'], required: ['phone'], title: 'Hi' });
  const fields = ['name', 'phone', 'email'];
  assert.deepEqual(validateContact(clean({ name: ' Li ', phone: '138 0000 0000' }, fields), { fields, required: ['name'] }), {});
  assert.deepEqual(validateContact(clean({ phone: 'abc', email: 'x@' }, fields), { fields, required: ['name'] }), {
    name: 'required',
    phone: 'invalid_phone',
    email: 'invalid_email',
  });
  assert.deepEqual(validateContact({ name: 'x', phone: '', email: '', body: '' }, { fields, needContact: true, body: true }), { contact: 'contact', body: 'required' });
});

test('quick-reply buttons from message data', () => {
  assert.deepEqual(quickReplies(null), []);
  assert.deepEqual(quickReplies({ buttons: ['转人工', { id: 'b2', label: '物流进度' }, { title: 'Refund' }, { nope: 1 }, ' '] }), [
    { id: '转人工', label: '转人工' },
    { id: 'b2', label: '物流进度' },
    { id: 'Refund', label: 'Refund' },
  ]);
});

test('theme colour, readable text colour and locale', () => {
  assert.equal(themeColor('#ff6600'), '#ff6600');
  assert.equal(themeColor('red;background:url(x)'), '#1f6feb');
  assert.equal(textOn('#000000'), '#fff');
  assert.equal(textOn('#ffd400'), '#111');
  assert.equal(textOn('#1f6feb'), '#fff');
  assert.equal(pickLocale('zh-TW'), 'zh-CN');
  assert.equal(pickLocale('en-GB'), 'en');
  assert.equal(pickLocale(undefined), 'en');
});
