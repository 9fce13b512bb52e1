/**
 * The panel's forms: pre-chat, leave-a-message and the satisfaction rating.
 * Each builds its DOM once and reports what the visitor entered through a callback.
 */

import { h, setText, show } from './dom.js';
import { CONTACT_FIELDS, clean, validateContact } from './validate.js';

const INPUTS = {
  name: { type: 'text', autocomplete: 'name' },
  phone: { type: 'tel', autocomplete: 'tel', inputMode: 'tel' },
  email: { type: 'email', autocomplete: 'email', inputMode: 'email' },
};

let uid = 0;

function errorText(t, code) {
  if (code === 'invalid_phone') return t.invalidPhone;
  if (code === 'invalid_email') return t.invalidEmail;
  if (code === 'contact') return t.leaveContact;
  return code ? t.required : '';
}

/** A labelled field with an error line wired through aria-describedby. */
function field(t, testid, labelText, control) {
  const errorId = `chatd-err-${++uid}`;
  control.setAttribute('aria-describedby', errorId);
  control.setAttribute('data-testid', testid);
  const error = h('div', { class: 'error', id: errorId, 'aria-live': 'polite' });
  const el = h('label', null, [labelText, control, error]);
  return {
    el,
    control,
    setError(message) {
      setText(error, message);
      control.setAttribute('aria-invalid', message ? 'true' : 'false');
    },
  };
}

function contactControl(name) {
  return h('input', { name, ...INPUTS[name], maxLength: name === 'email' ? 254 : 64 });
}

/** Pre-chat form: `config` from prechatConfig(); onSubmit(values). */
export function createPrechatForm({ t, config, onSubmit }) {
  const fields = {};
  for (const name of config.fields) {
    const required = config.required.indexOf(name) >= 0;
    const control = contactControl(name);
    if (required) control.setAttribute('aria-required', 'true');
    fields[name] = field(t, `chatd-prechat-${name}`, required ? `${t[name]} *` : t[name], control);
  }
  const submit = h('button', { type: 'submit', class: 'btn', testid: 'chatd-prechat-submit' }, t.prechatSubmit);
  const el = h('form', { class: 'form', testid: 'chatd-prechat', novalidate: true, 'aria-label': t.prechatTitle }, [
    h('p', null, config.title || t.prechatTitle),
    ...config.fields.map((name) => fields[name].el),
    submit,
  ]);
  el.addEventListener('submit', (event) => {
    event.preventDefault();
    const values = clean(Object.fromEntries(config.fields.map((name) => [name, fields[name].control.value])), config.fields);
    const errors = validateContact(values, config);
    let firstBad = null;
    for (const name of config.fields) {
      fields[name].setError(errorText(t, errors[name]));
      if (errors[name] && !firstBad) firstBad = fields[name].control;
    }
    if (firstBad) {
      firstBad.focus();
      return;
    }
    onSubmit(values);
  });
  return {
    el,
    fill(values) {
      for (const name of config.fields) if (values && values[name]) fields[name].control.value = values[name];
    },
  };
}

/** Leave-a-message form; onSubmit(values) returns a promise that rejects on failure. */
export function createLeaveForm({ t, onSubmit, onBack }) {
  const fields = {};
  for (const name of CONTACT_FIELDS) fields[name] = field(t, `chatd-leave-${name}`, t[name], contactControl(name));
  fields.body = field(t, 'chatd-leave-body', `${t.leaveBody} *`, h('textarea', { name: 'body', rows: 4, maxLength: 4000, 'aria-required': 'true' }));
  const title = h('p', { testid: 'chatd-leave-title' }, t.leaveTitle);
  const contactError = h('div', { class: 'error', 'aria-live': 'polite' });
  const status = h('div', { role: 'status', testid: 'chatd-leave-status' });
  const submit = h('button', { type: 'submit', class: 'btn', testid: 'chatd-leave-submit' }, t.leaveSubmit);
  const back = h('button', { type: 'button', class: 'btn plain', testid: 'chatd-leave-back', on: { click: () => onBack() } }, t.back);
  const inputs = h('div', { class: 'contents' }, [...CONTACT_FIELDS.map((name) => fields[name].el), contactError, fields.body.el, submit]);
  const el = h('form', { class: 'form', testid: 'chatd-leave-form', novalidate: true, 'aria-label': t.leaveManualTitle }, [title, inputs, status, back]);
  let busy = false;

  el.addEventListener('submit', (event) => {
    event.preventDefault();
    if (busy) return;
    const names = [...CONTACT_FIELDS, 'body'];
    const values = clean(Object.fromEntries(names.map((name) => [name, fields[name].control.value])), names);
    const errors = validateContact(values, { fields: CONTACT_FIELDS, needContact: true, body: true });
    for (const name of names) fields[name].setError(errorText(t, errors[name]));
    setText(contactError, errors.contact ? t.leaveContact : '');
    const bad = names.find((name) => errors[name]) || (errors.contact ? 'phone' : '');
    if (bad) {
      fields[bad].control.focus();
      return;
    }
    busy = true;
    submit.disabled = true;
    setText(status, t.leaveSending);
    status.className = '';
    onSubmit(values).then(
      () => {
        busy = false;
        show(inputs, false);
        status.className = 'ok';
        status.setAttribute('data-state', 'sent');
        setText(status, t.leaveDone);
      },
      () => {
        busy = false;
        submit.disabled = false;
        status.className = 'error';
        status.setAttribute('data-state', 'failed');
        setText(status, t.leaveFailed);
      },
    );
  });

  return {
    el,
    /** offline: nobody on duty (the form replaces the chat); else opened by the visitor. */
    setMode({ offline, canGoBack }) {
      setText(title, offline ? t.leaveTitle : t.leaveManualTitle);
      show(back, canGoBack);
    },
    /** Fill empty fields: contact details, and the message itself (`body`). */
    fill(values) {
      for (const name of [...CONTACT_FIELDS, 'body']) if (values && values[name] && !fields[name].control.value) fields[name].control.value = values[name];
    },
    reset() {
      el.reset();
      show(inputs, true);
      submit.disabled = false;
      setText(status, '');
      status.removeAttribute('data-state');
    },
  };
}

/** 1-5 stars and a comment; onSubmit(score, comment). */
export function createRating({ t, onSubmit }) {
  let score = 0;
  let busy = false; // submitted, waiting for the server's answer
  const stars = [1, 2, 3, 4, 5].map((n) =>
    h('button', {
      type: 'button',
      class: 'star',
      testid: 'chatd-rating-star',
      'data-score': n,
      'aria-label': t.star(n),
      'aria-pressed': 'false',
      on: { click: () => pick(n) },
    }, '★'));
  const comment = h('textarea', { rows: 2, maxLength: 1000, 'aria-label': t.ratingComment, placeholder: t.ratingComment, testid: 'chatd-rating-comment' });
  const submit = h('button', { type: 'submit', class: 'btn', disabled: true, testid: 'chatd-rating-submit' }, t.rateSubmit);
  const error = h('div', { class: 'error', role: 'alert' });
  const thanks = h('div', { class: 'ok', role: 'status', testid: 'chatd-rating-thanks', hidden: true }, t.rateThanks);
  const inputs = h('div', { class: 'contents' }, [
    h('p', { class: 'flat', id: 'chatd-rate-title' }, t.rateTitle),
    h('div', { class: 'stars', role: 'group', 'aria-labelledby': 'chatd-rate-title' }, stars),
    comment,
    error,
    submit,
  ]);
  const el = h('form', { class: 'card', testid: 'chatd-rating', 'aria-label': t.rateTitle }, [inputs, thanks]);

  function pick(n) {
    score = n;
    stars.forEach((star, i) => {
      star.classList.toggle('on', i < n);
      star.setAttribute('aria-pressed', i === n - 1 ? 'true' : 'false');
    });
    submit.disabled = busy;
  }

  el.addEventListener('submit', (event) => {
    event.preventDefault();
    if (score && !busy) onSubmit(score, comment.value.trim());
  });

  return {
    el,
    setDone(done) {
      show(inputs, !done);
      show(thanks, done);
    },
    setError(message) {
      setText(error, message || '');
    },
    /** While a rating is on its way: no second submission. */
    setBusy(value) {
      busy = value;
      submit.disabled = busy || !score;
    },
    reset() {
      score = 0;
      busy = false;
      pick(0);
      submit.disabled = true;
      comment.value = '';
      setText(error, '');
      show(inputs, true);
      show(thanks, false);
    },
  };
}
