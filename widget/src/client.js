/**
 * Entry of dist/client.js and the @chatd/client package: the core plus every
 * transport. Bundlers drop the transports an app does not import.
 */

export * from './core/index.js';
export { browserTransport, browserStorage } from './transport/browser.js';
export { wxTransport, wxStorage } from './transport/wx.js';
export { uniTransport, uniStorage } from './transport/uni.js';
export { ttTransport, ttStorage } from './transport/tt.js';
export { myTransport, myStorage } from './transport/my.js';
