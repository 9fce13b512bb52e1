/**
 * Reconnect timing, as pure functions of their inputs.
 *
 * `backoff()` is "full jitter" exponential backoff: the delay before attempt
 * `n` (0-based) is uniform in [0, min(cap, base * 2^n)). Spreading reconnects
 * over the whole window keeps a fleet of widgets from stampeding a server that
 * just came back. Randomness is injected so tests need no sleeping or mocking.
 */

export const DEFAULT_BACKOFF = Object.freeze({ base: 500, cap: 30000 });

/**
 * Delay in whole milliseconds before reconnect attempt `attempt` (0 = first retry).
 * Always an integer in [0, min(cap, base * 2^attempt)), and 0 when that window is empty.
 */
export function backoff(attempt, { base = DEFAULT_BACKOFF.base, cap = DEFAULT_BACKOFF.cap, random = Math.random } = {}) {
  // Anything but a positive number counts as the first attempt; the exponent is
  // clamped because 2^31 already exceeds any sane cap and avoids Infinity.
  const n = attempt > 0 ? Math.floor(Math.min(attempt, 31)) : 0;
  const window = Math.max(0, Math.min(cap, base * 2 ** n));
  if (window <= 0) return 0;
  const r = random();
  const unit = r >= 0 && r < 1 ? r : 0;
  return Math.min(window - 1, Math.floor(unit * window));
}

/**
 * Delay before reconnecting after the server closed with 1012 (draining): uniform
 * in [0, max), so the clients of a draining node spread over the remaining nodes.
 */
export function drainDelay(max, random = Math.random) {
  if (!(max > 0)) return 0;
  const r = random();
  const unit = r >= 0 && r < 1 ? r : 0;
  return Math.floor(unit * max);
}
