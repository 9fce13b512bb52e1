/**
 * Tiny DOM helpers for the panel. Text always goes in as text nodes
 * (`append(string)` / `textContent`), never as HTML.
 */

const PROPERTIES = new Set(['value', 'type', 'disabled', 'hidden', 'checked', 'placeholder', 'rows', 'maxLength', 'id', 'name', 'autocomplete', 'inputMode', 'tabIndex', 'href', 'target', 'rel', 'required']);

/**
 * h('button', {class: 'chip', testid: 'chatd-send', on: {click: fn}, 'aria-label': 'Send'}, ['Send'])
 * Strings among the children become text nodes.
 */
export function h(tag, props, children) {
  const el = document.createElement(tag);
  if (props) {
    for (const key of Object.keys(props)) {
      const value = props[key];
      if (value === undefined || value === null || value === false) continue;
      if (key === 'class') el.className = value;
      else if (key === 'text') el.textContent = value;
      else if (key === 'testid') el.setAttribute('data-testid', value);
      else if (key === 'on') for (const name of Object.keys(value)) el.addEventListener(name, value[name]);
      else if (PROPERTIES.has(key)) el[key] = value;
      else el.setAttribute(key, value === true ? '' : String(value));
    }
  }
  if (children !== undefined) append(el, children);
  return el;
}

function append(el, children) {
  for (const child of Array.isArray(children) ? children : [children]) {
    if (child === null || child === undefined || child === false) continue;
    el.append(typeof child === 'string' ? child : child);
  }
}

/** Show or hide without touching layout styles. */
export function show(el, visible) {
  if (el.hidden === !visible) return;
  el.hidden = !visible;
}

/** Set textContent only when it changed (keeps screen readers quiet). */
export function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

const FOCUSABLE = 'button,[href],input,textarea,select,[tabindex]:not([tabindex="-1"])';

/** Focusable, enabled and rendered elements inside `container`, in DOM order. */
export function focusables(container) {
  return Array.prototype.filter.call(
    container.querySelectorAll(FOCUSABLE),
    (el) => !el.disabled && el.getClientRects().length > 0,
  );
}

/**
 * Keep Tab and Shift+Tab inside `container` (the open dialog). `root` is the
 * shadow root, whose activeElement is the focused element inside it.
 */
export function trapFocus(container, root, event) {
  if (event.key !== 'Tab') return;
  const list = focusables(container);
  if (!list.length) return;
  const first = list[0];
  const last = list[list.length - 1];
  const active = root.activeElement;
  if (event.shiftKey && (active === first || !container.contains(active))) {
    event.preventDefault();
    last.focus();
  } else if (!event.shiftKey && (active === last || !container.contains(active))) {
    event.preventDefault();
    first.focus();
  }
}
