/**
 * Keyboard-safe full-screen layout on phones. When the on-screen keyboard
 * opens, the visual viewport shrinks (and may scroll) while a fixed 100dvh
 * panel would stay under the keyboard; and on a host page wider than the
 * screen, mobile browsers widen the layout viewport that fixed elements fill.
 * So while the panel is full-screen its box follows window.visualViewport.
 */

const BOX = ['top', 'left', 'width', 'height'];

export function followVisualViewport(win, panel, isFullScreen, onResize) {
  const vv = win.visualViewport;
  if (!vv) return () => {};
  let frame = 0;
  function apply() {
    frame = 0;
    if (!isFullScreen()) {
      for (const name of BOX) panel.style.removeProperty(name);
      return;
    }
    panel.style.setProperty('top', `${Math.round(vv.offsetTop)}px`);
    panel.style.setProperty('left', `${Math.round(vv.offsetLeft)}px`);
    panel.style.setProperty('width', `${Math.round(vv.width)}px`);
    panel.style.setProperty('height', `${Math.round(vv.height)}px`);
    onResize();
  }
  function schedule() {
    if (!frame) frame = (win.requestAnimationFrame || win.setTimeout)(apply);
  }
  vv.addEventListener('resize', schedule);
  vv.addEventListener('scroll', schedule);
  return apply;
}
