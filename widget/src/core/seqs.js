/**
 * Last seen `seq` per conversation, and the log epoch it belongs to: what
 * `hello.resume` sends, and the filter that drops an entry already seen
 * (possible only across reconnects).
 *
 * Seqs compare only within one epoch (docs/protocol.md, "Epochs"). When the
 * server says a conversation's history changed (`resync`), what is tracked for
 * it is forgotten and its whole log follows.
 *
 * Kept in memory for the life of a client: after a page reload the view is
 * empty, so the client resumes from 0 and the server's replay rebuilds it.
 */

export class SeqTracker {
  constructor() {
    this.last = new Map();
    this.epochs = new Map();
  }

  /** Last seen seq of a conversation (0 when none). */
  get(conversationId) {
    return this.last.get(conversationId) || 0;
  }

  /** The epoch the last seen seq belongs to ('' when not known yet). */
  epoch(conversationId) {
    return this.epochs.get(conversationId) || '';
  }

  /**
   * True (and remembered) when `seq` is new for the conversation; false for a
   * duplicate. Throws EpochMismatch for an entry of another epoch than the one
   * tracked: the client must resync (reconnect) instead of comparing seqs.
   */
  accept(conversationId, seq, epoch = '') {
    const known = this.epoch(conversationId);
    if (epoch && known && epoch !== known) throw new EpochMismatch(conversationId, known, epoch);
    if (epoch) this.epochs.set(conversationId, epoch);
    if (seq <= this.get(conversationId)) return false;
    this.last.set(conversationId, seq);
    return true;
  }

  /** Start tracking a conversation without having seen any of its entries. */
  track(conversationId, epoch = '') {
    if (!this.last.has(conversationId)) this.last.set(conversationId, 0);
    if (epoch && !this.epochs.has(conversationId)) this.epochs.set(conversationId, epoch);
  }

  /** After a `replay_gap`: entries up to `seq` will never come, accept what follows. */
  skipTo(conversationId, seq) {
    if (seq > this.get(conversationId)) this.last.set(conversationId, seq);
  }

  /** `synced` names the epoch of what was replayed. */
  synced(conversationId, epoch) {
    if (epoch) this.epochs.set(conversationId, epoch);
  }

  /** After a `resync`: forget the conversation's seq; its whole log of `epoch` follows. */
  resync(conversationId, epoch) {
    this.last.set(conversationId, 0);
    if (epoch) this.epochs.set(conversationId, epoch);
    else this.epochs.delete(conversationId);
  }

  /** The `hello.resume` map: last seen seq per tracked conversation, with its epoch when known. */
  resume() {
    const out = {};
    for (const [id, seq] of this.last) {
      const epoch = this.epoch(id);
      out[id] = epoch ? { seq, epoch } : seq;
    }
    return out;
  }

  clear() {
    this.last.clear();
    this.epochs.clear();
  }
}

/** An entry of another log epoch than the one tracked (see SeqTracker.accept). */
export class EpochMismatch extends Error {
  constructor(conversationId, known, got) {
    super(`conversation ${conversationId}: entry of epoch ${got}, tracking ${known}`);
    this.name = 'EpochMismatch';
    this.conversationId = conversationId;
  }
}
