/**
 * The panel's DOM: a dialog with a header, status lines, the message list,
 * suggestions, rating card, composer and the alternative form views. Built
 * once; `render(model)` only shows, hides and updates text.
 */

import { h, setText, show, trapFocus } from './dom.js';
import { createMessageList } from './messages.js';
import { createLeaveForm, createPrechatForm, createRating } from './forms.js';
import { PANEL_CSS } from './style.js';
import { adoptStyle } from '../shadow-style.js';

export function createView({ root, wrap, t, config, prechat, actions }) {
  const agent = h('div', { class: 'agent', testid: 'chatd-agent-name', hidden: true });
  const leaveOpen = h('button', { type: 'button', class: 'hbtn', testid: 'chatd-leave-open', on: { click: () => actions.showLeave(true) } }, t.leaveOpen);
  const closeButton = h('button', { type: 'button', class: 'hbtn x', 'aria-label': t.close, testid: 'chatd-close', on: { click: () => actions.close() } }, '×');
  const header = h('div', { class: 'head' }, [
    h('div', { class: 'titles' }, [h('h2', { class: 'title', id: 'chatd-title' }, t.title), agent]),
    leaveOpen,
    closeButton,
  ]);

  const banner = h('div', { class: 'banner', role: 'status', testid: 'chatd-connection', hidden: true });
  const queue = h('div', { class: 'queue', role: 'status', 'aria-live': 'polite', testid: 'chatd-queue', hidden: true });
  // Buttons inside the list and the suggestions disappear once used: keep the
  // focus in the dialog by moving it to the input.
  const listActions = {
    ...actions,
    sendText(text) {
      const error = actions.sendText(text);
      input.focus();
      return error;
    },
    retry(item) {
      actions.retry(item);
      input.focus();
    },
  };
  const list = createMessageList({ t, actions: listActions });
  const typing = h('div', { class: 'typing', 'aria-live': 'polite', testid: 'chatd-typing', hidden: true }, t.typing);

  const suggestionList = h('div', { class: 'chips' });
  const suggestions = h('div', { class: 'suggest', role: 'group', 'aria-label': t.suggestions, testid: 'chatd-suggestions', hidden: true }, [
    h('div', { class: 'label' }, t.suggestions),
    suggestionList,
  ]);

  const rating = createRating({ t, onSubmit: actions.rate });
  const hint = h('div', { class: 'hint', hidden: true }, t.newChatHint);

  const input = h('textarea', {
    rows: 1,
    maxLength: 4000,
    placeholder: t.placeholder,
    'aria-label': t.inputLabel,
    enterkeyhint: 'send',
    testid: 'chatd-input',
  });
  const inputError = h('div', { class: 'error pad', role: 'alert', testid: 'chatd-input-error' });
  const send = h('button', { type: 'submit', class: 'btn', testid: 'chatd-send', 'aria-label': t.send }, t.send);
  const composer = h('form', { class: 'composer', testid: 'chatd-composer' }, [input, send]);
  composer.addEventListener('submit', (event) => {
    event.preventDefault();
    submitInput();
  });
  input.addEventListener('keydown', (event) => {
    // Enter sends; Shift+Enter is a new line; Enter that confirms an IME
    // composition (pinyin) must not send.
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
      event.preventDefault();
      submitInput();
    }
  });
  input.addEventListener('input', () => {
    autosize();
    setText(inputError, '');
    actions.draft(input.value);
  });

  function submitInput() {
    const text = input.value.trim();
    if (!text) return;
    const error = actions.sendText(text);
    if (error) {
      setText(inputError, error);
      return;
    }
    input.value = '';
    autosize();
  }

  function autosize() {
    input.style.height = 'auto';
    input.style.height = `${Math.min(120, input.scrollHeight + 2)}px`;
  }

  const chat = h('div', { class: 'chat' }, [list.el, typing, suggestions, rating.el, hint, inputError, composer]);
  const prechatForm = prechat ? createPrechatForm({ t, config: prechat, onSubmit: actions.prechat }) : null;
  const leaveForm = createLeaveForm({ t, onSubmit: actions.leave, onBack: () => actions.showLeave(false) });

  const panel = h('div', {
    class: 'panel',
    id: 'chatd-panel',
    role: 'dialog',
    'aria-modal': config.mode === 'page' ? null : 'true',
    'aria-labelledby': 'chatd-title',
    testid: 'chatd-panel',
    hidden: true,
  }, [header, banner, queue, chat, prechatForm && prechatForm.el, leaveForm.el]);

  panel.addEventListener('keydown', (event) => {
    if (event.key === 'Escape' && config.mode !== 'page') {
      event.preventDefault();
      actions.close();
      return;
    }
    trapFocus(panel, root, event);
  });

  adoptStyle(root, PANEL_CSS);
  wrap.append(panel);

  let lastMode = '';
  let ratingFor = '';

  function render(model) {
    show(agent, !!model.agentText);
    setText(agent, model.agentText);
    show(leaveOpen, model.mode === 'chat');

    show(banner, !!model.banner);
    banner.className = model.bannerError ? 'banner err' : 'banner';
    setText(banner, model.banner);

    show(queue, !!model.queueText && model.mode === 'chat');
    setText(queue, model.queueText);

    show(chat, model.mode === 'chat');
    if (prechatForm) show(prechatForm.el, model.mode === 'prechat');
    show(leaveForm.el, model.mode === 'leave');
    if (model.mode === 'leave') leaveForm.setMode({ offline: model.offline, canGoBack: model.canGoBack });

    if (model.mode === 'chat') {
      list.render(model.state, model.items, { agentLabel: model.agentLabel });
      show(typing, model.typing);
      renderSuggestions(model.state.suggestions);
      if (model.rating === 'ask' && model.ratingFor !== ratingFor) {
        ratingFor = model.ratingFor; // a new conversation to rate: start from a blank form
        rating.reset();
      }
      show(rating.el, model.rating !== 'none');
      rating.setDone(model.rating === 'done');
      show(hint, model.closed);
    }
    if (lastMode && lastMode !== model.mode && model.open) focusFirst(model.mode);
    lastMode = model.mode;
  }

  let suggestionKey = '';
  function renderSuggestions(items) {
    const key = items.map((item) => item.id).join('\u0001');
    show(suggestions, items.length > 0);
    if (key === suggestionKey) return;
    suggestionKey = key;
    while (suggestionList.firstChild) suggestionList.firstChild.remove();
    suggestionList.append(...items.map((item) =>
      h('button', { type: 'button', class: 'chip', testid: 'chatd-suggestion', 'data-id': item.id, on: { click: () => listActions.sendText(item.question) } }, item.question)));
  }

  function focusFirst(mode) {
    if (mode === 'chat') input.focus();
    else if (mode === 'prechat' && prechatForm) prechatForm.el.querySelector('input').focus();
    else if (mode === 'leave') leaveForm.el.querySelector('input').focus();
  }

  return {
    panel,
    input,
    list,
    rating,
    leaveForm,
    prechatForm,
    render,
    focusFirst,
    setOpen(open) {
      show(panel, open);
      if (open) list.scrollToEnd();
    },
    setFullScreen(full) {
      panel.classList.toggle('full', full);
    },
    clear() {
      list.clear();
      input.value = '';
      rating.reset();
      leaveForm.reset();
    },
  };
}
