/**
 * uni-app transport: the only module that touches `uni.connectSocket` and its
 * SocketTask. Same rules as the WeChat transport (socket-task.js).
 * uni.connectSocket returns a SocketTask only when a success/fail/complete
 * callback is passed, hence `needsCallback`.
 */

import { socketTaskTransport, syncStorage } from './socket-task.js';

export function uniTransport(api = typeof uni !== 'undefined' ? uni : undefined) {
  return socketTaskTransport(api, 'uni', { needsCallback: true });
}

/** The client's storage adapter over uni.getStorageSync / uni.setStorageSync. */
export function uniStorage(api = typeof uni !== 'undefined' ? uni : undefined) {
  return syncStorage(api);
}
