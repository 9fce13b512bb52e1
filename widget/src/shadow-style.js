/**
 * Put a stylesheet into a shadow root. Constructable stylesheets are used
 * where supported because host pages with a strict Content-Security-Policy
 * (no 'unsafe-inline' styles) block <style> elements but not them.
 */
export function adoptStyle(root, css) {
  const doc = root.ownerDocument || document;
  const win = doc.defaultView;
  if (win && 'adoptedStyleSheets' in root && win.CSSStyleSheet && 'replaceSync' in win.CSSStyleSheet.prototype) {
    try {
      const sheet = new win.CSSStyleSheet();
      sheet.replaceSync(css);
      root.adoptedStyleSheets = root.adoptedStyleSheets.concat(sheet);
      return;
    } catch (_) {
      /* fall back to a <style> element */
    }
  }
  const style = doc.createElement('style');
  style.textContent = css;
  root.insertBefore(style, root.firstChild);
}
