/**
 * chatd wire protocol v1 (docs/protocol.md): codecs, frame builders and URLs.
 * Pure: no sockets, no DOM, no globals.
 */

import { encode as msgpackEncode, decode as msgpackDecode } from './msgpack.js';

export const PROTOCOL_VERSION = 1;
export const MAX_BODY_CHARS = 4000;
const MAX_SUGGEST_CHARS = 200; // what `suggest` looks at of the draft
export const MAX_ID_CHARS = 64;

/** Close codes the client reacts to (docs/protocol.md, "Close codes"). */
export const CLOSE = Object.freeze({
  NORMAL: 1000,
  TOO_BIG: 1009,
  DRAINING: 1012,
  SLOW_CONSUMER: 1013,
  AUTH: 4001,
  ORIGIN: 4003,
  IDLE: 4008,
  // Sent by the client itself when the heartbeat finds the socket dead.
  // Browsers and mini-programs only let clients close with 1000 or 3000-4999.
  CLIENT_TIMEOUT: 4000,
});

/**
 * Codecs by name. `subprotocol` is what the client offers; JSON offers none
 * (the protocol's default), which also works with proxies that drop the header.
 * `encode` returns what the socket sends: a string (text frame) or an
 * ArrayBuffer (binary frame).
 */
export const codecs = Object.freeze({
  json: Object.freeze({ name: 'json', subprotocol: '', encode: (frame) => JSON.stringify(frame) }),
  msgpack: Object.freeze({ name: 'msgpack', subprotocol: 'chatd.v1.msgpack', encode: (frame) => msgpackEncode(frame) }),
});

/**
 * Decode one frame as received from a socket: text is JSON, binary is msgpack,
 * whatever the codec offered. Returns the frame, or null when the data is not
 * a map with a string `type` (the client ignores such frames).
 */
export function decodeFrame(data) {
  let frame;
  try {
    frame = typeof data === 'string' ? JSON.parse(data) : msgpackDecode(data);
  } catch (_) {
    return null;
  }
  if (!frame || typeof frame !== 'object' || Array.isArray(frame) || typeof frame.type !== 'string') return null;
  return frame;
}

/** The visitor WebSocket URL for `server` (http(s):// or ws(s)://) and a site key. */
export function visitorUrl(server, site) {
  const base = String(server || '').replace(/\/+$/, '').replace(/^http(s?):\/\//i, 'ws$1://');
  return `${base}/ws/visitor?site=${encodeURIComponent(site)}`;
}

/** Count of Unicode code points, which is how the server measures `body`. */
export function codePoints(text) {
  let n = 0;
  for (const _ of String(text)) n++;
  return n;
}

function compact(frame) {
  const out = {};
  for (const key of Object.keys(frame)) {
    const v = frame[key];
    if (v !== undefined && v !== null && v !== '') out[key] = v;
  }
  return out;
}

/** Frame builders. They drop empty optional fields so frames stay small. */
export const frames = Object.freeze({
  hello: ({ site, token, identity, name, resume }) =>
    compact({ type: 'hello', site, token, identity, name, resume: resume && Object.keys(resume).length ? resume : undefined }),
  ping: (ts) => ({ type: 'ping', ts }),
  start: ({ skill, attributes, ref } = {}) =>
    compact({ type: 'start', skill, attributes: attributes && Object.keys(attributes).length ? attributes : undefined, ref }),
  send: ({ conversation_id, client_msg_id, body }) =>
    ({ type: 'send', conversation_id, client_msg_id, body, ref: client_msg_id }),
  typing: (conversation_id, active) => ({ type: 'typing', conversation_id, active: !!active }),
  read: (conversation_id, seq) => ({ type: 'read', conversation_id, seq }),
  close: (conversation_id) => ({ type: 'close', conversation_id }),
  rate: ({ conversation_id, score, comment, ref }) => compact({ type: 'rate', conversation_id, score, comment, ref }),
  suggest: (text) => ({ type: 'suggest', text: String(text).slice(0, MAX_SUGGEST_CHARS) }),
});

/** Entries are the frames that carry a conversation log `seq`. */
export function isEntry(frame) {
  return (frame.type === 'message' || frame.type === 'event') && typeof frame.conversation_id === 'string' && Number.isInteger(frame.seq);
}

/** The conversation state an event moves to (its `data.state` when the server gives one). */
export function stateAfterEvent(event, data) {
  if (data && typeof data.state === 'string') return data.state;
  switch (event) {
    case 'queued':
    case 'requeued':
      return 'queued';
    case 'assigned':
    case 'transferred':
      return 'assigned';
    case 'closed':
      return 'closed';
    case 'reopened':
      return 'open';
    default:
      return '';
  }
}
