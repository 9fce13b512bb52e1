/**
 * Keyboard-safe full-screen layout on phones. When the on-screen keyboard
 * opens, the visual viewport shrinks (and may scroll) while a fixed 100dvh
 * panel would stay under the keyboard; so while the panel is full-screen its
 * top and height follow window.visualViewport.
 */

export function followVisualViewport(win, panel, isFullScreen, onResize) {
  const vv = win.visualViewport;
  if (!vv) return () => {};
  let frame = 0;
  function apply() {
    frame = 0;
    if (!isFullScreen()) {
      panel.style.removeProperty('height');
      panel.style.removeProperty('top');
      return;
    }
    panel.style.setProperty('height', `${Math.round(vv.height)}px`);
    panel.style.setProperty('top', `${Math.round(vv.offsetTop)}px`);
    onResize();
  }
  function schedule() {
    if (!frame) frame = (win.requestAnimationFrame || win.setTimeout)(apply);
  }
  vv.addEventListener('resize', schedule);
  vv.addEventListener('scroll', schedule);
  return apply;
}
