/** Theme helpers shared by the loader and the panel. Pure. */

export const DEFAULT_COLOR = '#1f6feb';

/** The colour if it is a #rgb/#rrggbb hex colour, else the default. */
export function themeColor(color) {
  return typeof color === 'string' && /^#([0-9a-f]{3}|[0-9a-f]{6})$/i.test(color.trim()) ? color.trim() : DEFAULT_COLOR;
}

/** Black or white, whichever reads better on `hex` (WCAG relative luminance). */
export function textOn(hex) {
  let h = themeColor(hex).slice(1);
  if (h.length === 3) h = h.replace(/./g, '$&$&');
  const [r, g, b] = [0, 2, 4].map((i) => {
    const c = parseInt(h.slice(i, i + 2), 16) / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  });
  const luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b;
  // Contrast against white is (1.05)/(L+0.05), against black (L+0.05)/0.05.
  return 1.05 / (luminance + 0.05) >= (luminance + 0.05) / 0.05 ? '#fff' : '#111';
}

/** 'zh-CN' for any Chinese locale, else 'en'. */
export function pickLocale(locale) {
  return /^zh/i.test(String(locale || '')) ? 'zh-CN' : 'en';
}
