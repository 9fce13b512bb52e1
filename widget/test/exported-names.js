// The public names of the client core and of the @chatd/client entry, shared by
// exports.test.js and dist.test.js. (This file has no tests of its own.)

export const CORE = [
  'CLOSE', 'Client', 'DEFAULT_BACKOFF', 'MAX_BODY_CHARS', 'Outbox', 'PROTOCOL_VERSION', 'STORED_NAMES', 'SeqTracker',
  'backoff', 'codePoints', 'codecs', 'createClient', 'currentConversation', 'decodeFrame', 'drainDelay', 'frames',
  'initialState', 'isEntry', 'latestSeqs', 'memoryStorage', 'msgpackDecode', 'msgpackEncode', 'namespacedStore',
  'needsRating', 'reduce', 'stateAfterEvent', 'storagePrefix', 'timeline', 'unreadCount', 'visitorUrl',
];
export const TRANSPORTS = [
  'browserStorage', 'browserTransport', 'myStorage', 'myTransport', 'ttStorage', 'ttTransport', 'uniStorage',
  'uniTransport', 'wxStorage', 'wxTransport',
];
