/** New-chat alerts: a browser notification, a short sound and a blinking title while the tab is hidden. */

export function createNotifier(baseTitle) {
  let blink = null;
  let audio = null;

  function stopBlink() {
    if (blink) clearInterval(blink);
    blink = null;
    document.title = baseTitle();
  }

  function beep() {
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.frequency.value = 880;
      gain.gain.setValueAtTime(0.15, audio.currentTime);
      gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + 0.4);
      osc.connect(gain).connect(audio.destination);
      osc.start();
      osc.stop(audio.currentTime + 0.4);
    } catch {
      // no audio output: the title and the notification still tell
    }
  }

  document.addEventListener('visibilitychange', () => {
    if (!document.hidden) stopBlink();
  });
  window.addEventListener('focus', stopBlink);

  return {
    /** Ask once, from a user gesture (the login button). */
    askPermission() {
      if ('Notification' in window && Notification.permission === 'default') {
        Notification.requestPermission().catch(() => {});
      }
    },
    alert(title, body) {
      beep();
      if ('Notification' in window && Notification.permission === 'granted' && document.hidden) {
        try {
          new Notification(title, { body, tag: 'chatd-new-chat' });
        } catch {
          // some platforms only allow notifications from a service worker
        }
      }
      document.body.dataset.alerts = String(Number(document.body.dataset.alerts || 0) + 1);
      if (!document.hidden || blink) return;
      let on = false;
      blink = setInterval(() => {
        on = !on;
        document.title = on ? `● ${title}` : baseTitle();
      }, 1000);
    },
    stopBlink,
  };
}
