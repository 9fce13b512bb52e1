/**
 * Douyin (抖音 / ByteDance) mini-program transport: the only module that
 * touches `tt.connectSocket` and its SocketTask, which has WeChat's shape
 * (see socket-task.js for the rules: one socket per app, reconnect on app
 * show and network return).
 */

import { socketTaskTransport, syncStorage } from './socket-task.js';

export function ttTransport(api = typeof tt !== 'undefined' ? tt : undefined) {
  return socketTaskTransport(api, 'tt');
}

/** The client's storage adapter over tt.getStorageSync / tt.setStorageSync. */
export function ttStorage(api = typeof tt !== 'undefined' ? tt : undefined) {
  return syncStorage(api);
}
