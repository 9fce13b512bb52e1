/**
 * @chatd/client core: protocol, outbox, seq tracking, reconnect, view reducer.
 * No DOM and no globals; pair it with a transport from src/transport/.
 */

export { Client, createClient } from './client.js';
export { backoff, drainDelay, DEFAULT_BACKOFF } from './backoff.js';
export {
  CLOSE,
  MAX_BODY_CHARS,
  PROTOCOL_VERSION,
  codePoints,
  codecs,
  decodeFrame,
  frames,
  isEntry,
  stateAfterEvent,
  visitorUrl,
} from './protocol.js';
export { Outbox } from './outbox.js';
export { SeqTracker } from './seqs.js';
export { memoryStorage, namespacedStore, storagePrefix, STORED_NAMES } from './storage.js';
export { reduce, initialState, currentConversation, unreadCount, latestSeqs, needsRating, timeline } from './reducer.js';
export { encode as msgpackEncode, decode as msgpackDecode } from './msgpack.js';
