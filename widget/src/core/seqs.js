/**
 * Last seen `seq` per conversation: what `hello.resume` sends, and the filter
 * that drops an entry already seen (possible only across reconnects).
 *
 * Kept in memory for the life of a client: after a page reload the view is
 * empty, so the client resumes from 0 and the server's replay rebuilds it.
 */

export class SeqTracker {
  constructor() {
    this.last = new Map();
  }

  /** Last seen seq of a conversation (0 when none). */
  get(conversationId) {
    return this.last.get(conversationId) || 0;
  }

  /** True (and remembered) when `seq` is new for the conversation; false for a duplicate. */
  accept(conversationId, seq) {
    if (seq <= this.get(conversationId)) return false;
    this.last.set(conversationId, seq);
    return true;
  }

  /** Start tracking a conversation without having seen any of its entries. */
  track(conversationId) {
    if (!this.last.has(conversationId)) this.last.set(conversationId, 0);
  }

  /** After a `replay_gap`: entries up to `seq` will never come, accept what follows. */
  skipTo(conversationId, seq) {
    if (seq > this.get(conversationId)) this.last.set(conversationId, seq);
  }

  /** The `hello.resume` map: last seen seq per tracked conversation. */
  resume() {
    const out = {};
    for (const [id, seq] of this.last) out[id] = seq;
    return out;
  }

  clear() {
    this.last.clear();
  }
}
