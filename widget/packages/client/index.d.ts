// Type declarations of @chatd/client (hand-written; `npm test` in widget/
// checks them against test/types/usage.ts with tsc --strict, and
// test/exports.test.js checks that every exported name is declared here).

/** A server frame or local event: `type` plus the fields of docs/protocol.md. */
export interface ChatEvent {
  type: string;
  [field: string]: unknown;
}

export type ConnectionStatus = 'idle' | 'connecting' | 'online' | 'waiting' | 'stopped';

export interface ConnectionEvent extends ChatEvent {
  type: 'connection';
  status: ConnectionStatus;
  code?: number;
  delay?: number;
  error?: { code: string; message: string };
}

export interface SocketHandlers {
  open(): void;
  message(data: string | ArrayBuffer): void;
  close(code: number, reason: string): void;
}

export interface Socket {
  send(data: string | ArrayBuffer): void;
  close(code: number, reason: string): void;
}

/** How the client reaches the server: a browser WebSocket or a mini-program SocketTask. */
export interface Transport {
  connect(url: string, protocols: string[], handlers: SocketHandlers): Socket;
  /** Calls `wake` when the app comes to the foreground or the network returns; returns an unwatch. */
  watch?(wake: (reason: string) => void): () => void;
}

/** Where the visitor token, outbox and read marks are kept (localStorage's shape). */
export interface Storage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(id: unknown): void;
}

export interface BackoffOptions {
  base?: number;
  cap?: number;
  random?: () => number;
}

export interface ClientOptions {
  /** `wss://host/ws/visitor?site=…` (see visitorUrl). */
  url: string;
  site: string;
  transport: Transport;
  storage?: Storage;
  codec?: 'json' | 'msgpack';
  /** A customer identity token signed by the host site's backend. */
  identity?: string;
  name?: string;
  attributes?: Record<string, unknown>;
  backoff?: { base: number; cap: number };
  drainDelayMax?: number;
  helloTimeout?: number;
  wakeTimeout?: number;
  timers?: Timers;
  random?: () => number;
  now?: () => number;
}

export declare class Client {
  constructor(options: ClientOptions);
  readonly status: ConnectionStatus;
  readonly visitorId: string;
  /** Listen to one frame or event type, or `'*'` for all; returns an unsubscribe. */
  on(type: string, fn: (event: ChatEvent) => void): () => void;
  connect(): void;
  disconnect(): void;
  /** Check the socket now (e.g. from a page's onShow). */
  wake(): void;
  identify(identity: string): void;
  setName(name: string): void;
  setAttributes(attributes: Record<string, unknown>): void;
  /** Queue a message (starting a conversation when there is none); returns its client_msg_id. */
  send(body: string, conversationId?: string): string;
  start(options?: { skill?: string; attributes?: Record<string, unknown> }): void;
  typing(conversationId: string, active: boolean): void;
  suggest(text: string): void;
  read(conversationId: string, seq: number): void;
  closeConversation(conversationId: string): void;
  /** Rate a closed conversation 1–5; returns the frame's ref. */
  rate(conversationId: string, score: number, comment?: string): string;
  reset(): void;
  currentConversationId(): string;
}

export declare function createClient(options: ClientOptions): Client;

export declare const DEFAULT_BACKOFF: Readonly<{ base: number; cap: number }>;
export declare function backoff(attempt: number, options?: BackoffOptions): number;
export declare function drainDelay(max: number, random?: () => number): number;

export declare const PROTOCOL_VERSION: number;
export declare const MAX_BODY_CHARS: number;
export declare const CLOSE: Readonly<Record<string, number>>;
export interface Codec {
  name: string;
  subprotocol: string;
  encode(frame: object): string | ArrayBuffer | Uint8Array;
}
export declare const codecs: Readonly<{ json: Codec; msgpack: Codec }>;
export declare function decodeFrame(data: string | ArrayBuffer | Uint8Array): ChatEvent;
/** `https://host` → `wss://host/ws/visitor?site=…`. */
export declare function visitorUrl(server: string, site: string): string;
export declare function codePoints(text: string): number;
export declare const frames: Readonly<Record<string, (...args: any[]) => ChatEvent>>;
export declare function isEntry(frame: ChatEvent): boolean;
export declare function stateAfterEvent(event: string, data?: Record<string, unknown>): string | null;

export declare class Outbox {
  constructor(store: NamespacedStore);
  [member: string]: unknown;
}
export declare class SeqTracker {
  constructor();
  [member: string]: unknown;
}

export interface NamespacedStore {
  readonly prefix: string;
  get<T = unknown>(name: string, fallback?: T): T;
  set(name: string, value: unknown): void;
  remove(name: string): void;
}
export declare function memoryStorage(initial?: Record<string, string>): Storage;
export declare function namespacedStore(storage: Storage, prefix: string): NamespacedStore;
export declare function storagePrefix(site: string): string;
export declare const STORED_NAMES: readonly string[];

export interface Entry {
  seq: number;
  kind: 'message' | 'event';
  from: { role: string; id: string; name?: string };
  body: string;
  ts: number;
  clientMsgId?: string;
  event?: string;
  data?: Record<string, unknown>;
}

export interface ConversationView {
  id: string;
  state: string;
  agentId: string;
  agentName: string;
  skill: string;
  everAssigned: boolean;
  entries: Entry[];
  queue: { position: number; length: number; eta_seconds: number } | null;
  typing: boolean;
  peerReadSeq: number;
  agentOnline: boolean | null;
  synced: boolean;
  gaps: { after_seq: number; first_seq: number }[];
}

export interface PendingMessage {
  clientMsgId: string;
  conversationId: string | null;
  body: string;
  ts: number;
  status: string;
}

export interface ViewState {
  connection: ConnectionStatus;
  error: { code: string; message: string } | null;
  visitorId: string;
  current: string;
  order: string[];
  conversations: Record<string, ConversationView>;
  pending: PendingMessage[];
  suggestions: { id: string; question: string }[];
  onDuty: boolean;
  rated: Record<string, boolean>;
}

export type TimelineItem =
  | (Entry & { key: string; conversationId: string })
  | { key: string; kind: 'gap'; conversationId: string; gap: { after_seq: number; first_seq: number } }
  | (PendingMessage & { key: string; kind: 'pending' });

export declare function initialState(): ViewState;
export declare function reduce(state: ViewState, event: ChatEvent): ViewState;
export declare function currentConversation(state: ViewState): ConversationView | null;
export declare function unreadCount(state: ViewState, readMarks?: Record<string, number>): number;
export declare function latestSeqs(state: ViewState): Record<string, number>;
export declare function needsRating(state: ViewState): boolean;
export declare function timeline(state: ViewState): TimelineItem[];

export declare function msgpackEncode(value: unknown): Uint8Array;
export declare function msgpackDecode(data: ArrayBuffer | Uint8Array): unknown;

/** The platform object of a mini-program (`wx`, `uni`, `tt`, `my`), as far as the transports use it. */
export type MiniProgramApi = Record<string, any>;

export declare function browserTransport(win?: Window): Transport;
export declare function browserStorage(win?: Window): Storage;
export declare function wxTransport(api?: MiniProgramApi): Transport;
export declare function wxStorage(api?: MiniProgramApi): Storage;
export declare function uniTransport(api?: MiniProgramApi): Transport;
export declare function uniStorage(api?: MiniProgramApi): Storage;
export declare function ttTransport(api?: MiniProgramApi): Transport;
export declare function ttStorage(api?: MiniProgramApi): Storage;
/** Alipay: json codec only (no WebSocket subprotocol there). */
export declare function myTransport(api?: MiniProgramApi): Transport;
export declare function myStorage(api?: MiniProgramApi): Storage;
