/**
 * WeChat mini-program transport: the only module that touches
 * `wx.connectSocket` and its SocketTask (see socket-task.js for the rules:
 * one socket per app, reconnect on app show and network return).
 */

import { socketTaskTransport, syncStorage } from './socket-task.js';

export function wxTransport(api = typeof wx !== 'undefined' ? wx : undefined) {
  return socketTaskTransport(api, 'wx');
}

/** The client's storage adapter over wx.getStorageSync / wx.setStorageSync. */
export function wxStorage(api = typeof wx !== 'undefined' ? wx : undefined) {
  return syncStorage(api);
}
