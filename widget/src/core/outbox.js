/**
 * The outbox: messages sent but not yet acknowledged by the server.
 *
 * Contract: an item stays until its `ack` arrives (or the server refuses it for
 * good); after every reconnect the client resends every item with the SAME
 * `client_msg_id`, and the server's deduplication makes the effect exactly
 * once. Items persist through the storage adapter so a reload does not lose
 * them. An item whose conversation does not exist yet has `conversation_id`
 * null; it is assigned when the server answers `start`.
 */

export class Outbox {
  /** `store` is a namespacedStore; the outbox lives under its "outbox" name. */
  constructor(store) {
    this.store = store;
    const saved = store.get('outbox', null);
    this.items = saved && Array.isArray(saved.items) ? saved.items.filter(isItem) : [];
    // A `start` the client still owes the server (with the pre-chat attributes).
    this.pendingStart = saved && saved.pendingStart && typeof saved.pendingStart === 'object' ? saved.pendingStart : null;
  }

  get size() {
    return this.items.length;
  }

  list() {
    return this.items.slice();
  }

  get(clientMsgId) {
    return this.items.find((item) => item.client_msg_id === clientMsgId) || null;
  }

  add(item) {
    this.items.push({
      client_msg_id: item.client_msg_id,
      conversation_id: item.conversation_id || null,
      body: item.body,
      ts: item.ts,
    });
    this.save();
  }

  /** Remove and return the item (on ack or a permanent refusal); null if unknown. */
  remove(clientMsgId) {
    const i = this.items.findIndex((item) => item.client_msg_id === clientMsgId);
    if (i < 0) return null;
    const [item] = this.items.splice(i, 1);
    this.save();
    return item;
  }

  /** Give every item without a conversation (or in `from`) the conversation `to`. */
  assign(to, from = null) {
    let changed = 0;
    for (const item of this.items) {
      if (item.conversation_id === from) {
        item.conversation_id = to;
        changed++;
      }
    }
    if (changed) this.save();
    return changed;
  }

  unassigned() {
    return this.items.filter((item) => !item.conversation_id);
  }

  setPendingStart(request) {
    this.pendingStart = request;
    this.save();
  }

  clear() {
    this.items = [];
    this.pendingStart = null;
    this.store.remove('outbox');
  }

  save() {
    if (!this.items.length && !this.pendingStart) this.store.remove('outbox');
    else this.store.set('outbox', { items: this.items, pendingStart: this.pendingStart });
  }
}

function isItem(item) {
  return item && typeof item.client_msg_id === 'string' && typeof item.body === 'string';
}
