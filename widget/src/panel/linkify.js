/**
 * Split message text into plain text and http(s) links. Pure; the view turns
 * the result into text nodes and <a> elements, so a body is never parsed as HTML.
 */

// Stops at whitespace, quotes, angle brackets and full-width punctuation, which
// in Chinese text often follows a URL without a space.
const URL_RE = /https?:\/\/[^\s<>"'`，。！？、；：“”‘’（）【】《》]+/gi;
const TRAILING = /[.,;:!?)\]}*_~]+$/;

/** [{text}] and [{text, href}] segments covering `text` exactly. */
export function linkify(text) {
  const source = String(text ?? '');
  const out = [];
  let last = 0;
  URL_RE.lastIndex = 0;
  let match;
  // exec() rather than matchAll(): the panel targets ES2019 web views.
  while ((match = URL_RE.exec(source))) {
    let url = match[0];
    const trailing = url.match(TRAILING);
    if (trailing) {
      // Keep a closing bracket that balances an opening one inside the URL (wiki links).
      let cut = trailing[0];
      if (cut.startsWith(')') && url.includes('(')) cut = cut.slice(1);
      url = url.slice(0, url.length - cut.length);
    }
    const href = safeHref(url);
    if (!href) continue;
    if (match.index > last) out.push({ text: source.slice(last, match.index) });
    out.push({ text: url, href });
    last = match.index + url.length;
  }
  if (last < source.length) out.push({ text: source.slice(last) });
  return out;
}

/** The normalised URL when it parses and is http or https, else ''. */
export function safeHref(url) {
  try {
    const parsed = new URL(url);
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return '';
    if (!parsed.hostname) return '';
    return parsed.href;
  } catch (_) {
    return '';
  }
}
