/**
 * A tiny DOM builder. Text always goes in as text nodes (never HTML), so a
 * visitor's message, a customer's name or an order title cannot inject markup.
 *
 *   h('button', { class: 'primary', testid: 'send', onclick: fn }, t('send'))
 */

export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'testid') el.dataset.testid = value;
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key === 'style' && typeof value === 'object') Object.assign(el.style, value);
    else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (key === 'value') el.value = value;
    else if (key === 'checked' || key === 'disabled' || key === 'selected' || key === 'hidden') el[key] = Boolean(value);
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else if (child instanceof Node) el.appendChild(child);
    else el.appendChild(document.createTextNode(String(child)));
  }
}

/** Replace everything inside `el` with `children`. */
export function mount(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** "3 s", "2 min", "1 h 05" from seconds. */
export function duration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}`;
}

export function clockTime(epochSeconds, locale) {
  if (!epochSeconds) return '';
  return new Date(epochSeconds * 1000).toLocaleTimeString(locale, { hour: '2-digit', minute: '2-digit' });
}

export function dateTime(epochSeconds, locale) {
  if (!epochSeconds) return '';
  return new Date(epochSeconds * 1000).toLocaleString(locale, { dateStyle: 'short', timeStyle: 'short' });
}

/** Only http(s) links are ever made clickable. */
export function safeUrl(url) {
  return /^https?:\/\//i.test(String(url || '')) ? String(url) : '';
}
