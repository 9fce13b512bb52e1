/**
 * Alipay (支付宝) mini-program transport: the only module that touches
 * `my.connectSocket`. With `multiple: true` it returns a SocketTask of
 * WeChat's shape (see socket-task.js for the rules). Alipay offers no
 * WebSocket subprotocol, so the client must use the json codec (the default).
 * Its storage API takes and returns objects: `objectStorage`.
 */

import { objectStorage, socketTaskTransport } from './socket-task.js';

export function myTransport(api = typeof my !== 'undefined' ? my : undefined) {
  return socketTaskTransport(api, 'my', { extra: { multiple: true }, subprotocols: false });
}

/** The client's storage adapter over my.getStorageSync({ key }) / my.setStorageSync({ key, data }). */
export function myStorage(api = typeof my !== 'undefined' ? my : undefined) {
  return objectStorage(api);
}
