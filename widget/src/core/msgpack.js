/**
 * A small msgpack encoder/decoder for chatd frames (maps of strings, numbers,
 * booleans, nil, arrays, nested maps and binary). It has no dependencies and
 * does its own UTF-8 so it also runs in mini-programs without TextEncoder.
 *
 * Integers are encoded in the smallest int/uint form; other numbers as float64.
 * Decoding also accepts float32, 64-bit integers (as Number) and skips ext types
 * (decoded as null), which chatd never sends.
 */

function utf8Encode(str, out) {
  for (let i = 0; i < str.length; i++) {
    let c = str.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < str.length) {
      const d = str.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        i++;
      }
    }
    if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd; // lone surrogate
    if (c < 0x80) out.push(c);
    else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63));
    else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
  }
}

function utf8Decode(bytes, start, end) {
  let s = '';
  let i = start;
  while (i < end) {
    const b = bytes[i++];
    let c;
    if (b < 0x80) c = b;
    else if (b >= 0xc0 && b < 0xe0) c = ((b & 31) << 6) | (bytes[i++] & 63);
    else if (b >= 0xe0 && b < 0xf0) c = ((b & 15) << 12) | ((bytes[i++] & 63) << 6) | (bytes[i++] & 63);
    else if (b >= 0xf0) c = ((b & 7) << 18) | ((bytes[i++] & 63) << 12) | ((bytes[i++] & 63) << 6) | (bytes[i++] & 63);
    else c = 0xfffd;
    if (c > 0xffff) {
      c -= 0x10000;
      s += String.fromCharCode(0xd800 + (c >> 10), 0xdc00 + (c & 1023));
    } else {
      s += String.fromCharCode(c);
    }
  }
  return s;
}

function pushUint(out, n, bytes) {
  for (let k = bytes - 1; k >= 0; k--) out.push(Math.floor(n / 2 ** (8 * k)) & 0xff);
}

function encodeInto(value, out) {
  if (value === null || value === undefined) {
    out.push(0xc0);
  } else if (value === false) {
    out.push(0xc2);
  } else if (value === true) {
    out.push(0xc3);
  } else if (typeof value === 'number') {
    encodeNumber(value, out);
  } else if (typeof value === 'string') {
    const bytes = [];
    utf8Encode(value, bytes);
    const n = bytes.length;
    if (n < 32) out.push(0xa0 | n);
    else if (n < 0x100) out.push(0xd9, n);
    else if (n < 0x10000) out.push(0xda, n >> 8, n & 0xff);
    else { out.push(0xdb); pushUint(out, n, 4); }
    for (let i = 0; i < n; i++) out.push(bytes[i]);
  } else if (value instanceof Uint8Array || value instanceof ArrayBuffer) {
    const bytes = value instanceof Uint8Array ? value : new Uint8Array(value);
    const n = bytes.length;
    if (n < 0x100) out.push(0xc4, n);
    else if (n < 0x10000) out.push(0xc5, n >> 8, n & 0xff);
    else { out.push(0xc6); pushUint(out, n, 4); }
    for (let i = 0; i < n; i++) out.push(bytes[i]);
  } else if (Array.isArray(value)) {
    const n = value.length;
    if (n < 16) out.push(0x90 | n);
    else if (n < 0x10000) out.push(0xdc, n >> 8, n & 0xff);
    else { out.push(0xdd); pushUint(out, n, 4); }
    for (let i = 0; i < n; i++) encodeInto(value[i], out);
  } else if (typeof value === 'object') {
    const keys = Object.keys(value).filter((k) => value[k] !== undefined);
    const n = keys.length;
    if (n < 16) out.push(0x80 | n);
    else if (n < 0x10000) out.push(0xde, n >> 8, n & 0xff);
    else { out.push(0xdf); pushUint(out, n, 4); }
    for (const k of keys) {
      encodeInto(k, out);
      encodeInto(value[k], out);
    }
  } else {
    throw new TypeError(`msgpack: cannot encode ${typeof value}`);
  }
}

function encodeNumber(n, out) {
  if (Number.isSafeInteger(n)) {
    if (n >= 0) {
      if (n < 0x80) out.push(n);
      else if (n < 0x100) out.push(0xcc, n);
      else if (n < 0x10000) out.push(0xcd, n >> 8, n & 0xff);
      else if (n < 0x100000000) { out.push(0xce); pushUint(out, n, 4); }
      else { out.push(0xcf); pushUint(out, n, 8); }
      return;
    }
    if (n >= -32) { out.push(n & 0xff); return; }
    if (n >= -0x80) { out.push(0xd0, n & 0xff); return; }
    if (n >= -0x8000) { out.push(0xd1, (n >> 8) & 0xff, n & 0xff); return; }
    if (n >= -0x80000000) { out.push(0xd2, (n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff); return; }
  }
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, n);
  out.push(0xcb);
  for (let i = 0; i < 8; i++) out.push(view.getUint8(i));
}

/** Encode `value` as msgpack; returns an ArrayBuffer (what every socket API accepts). */
export function encode(value) {
  const out = [];
  encodeInto(value, out);
  return new Uint8Array(out).buffer;
}

/** Decode one msgpack value from an ArrayBuffer or Uint8Array. Throws on truncated input. */
export function decode(data) {
  const bytes = data instanceof Uint8Array ? data : new Uint8Array(data);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = 0;

  function need(n) {
    if (pos + n > bytes.length) throw new RangeError('msgpack: truncated');
  }
  function uint(n) {
    need(n);
    let v = 0;
    for (let i = 0; i < n; i++) v = v * 256 + bytes[pos++];
    return v;
  }
  function str(n) {
    need(n);
    const s = utf8Decode(bytes, pos, pos + n);
    pos += n;
    return s;
  }
  function bin(n) {
    need(n);
    const b = bytes.slice(pos, pos + n);
    pos += n;
    return b;
  }
  function array(n) {
    const a = new Array(n);
    for (let i = 0; i < n; i++) a[i] = read();
    return a;
  }
  function map(n) {
    const m = {};
    for (let i = 0; i < n; i++) {
      const k = read();
      m[String(k)] = read();
    }
    return m;
  }
  function signed(n) {
    need(n);
    let v;
    if (n === 1) v = view.getInt8(pos);
    else if (n === 2) v = view.getInt16(pos);
    else if (n === 4) v = view.getInt32(pos);
    else v = view.getInt32(pos) * 2 ** 32 + view.getUint32(pos + 4);
    pos += n;
    return v;
  }
  function ext(n) {
    need(n + 1);
    pos += n + 1;
    return null;
  }

  function read() {
    need(1);
    const b = bytes[pos++];
    if (b < 0x80) return b;
    if (b < 0x90) return map(b & 0x0f);
    if (b < 0xa0) return array(b & 0x0f);
    if (b < 0xc0) return str(b & 0x1f);
    if (b >= 0xe0) return b - 0x100;
    switch (b) {
      case 0xc0: return null;
      case 0xc2: return false;
      case 0xc3: return true;
      case 0xc4: return bin(uint(1));
      case 0xc5: return bin(uint(2));
      case 0xc6: return bin(uint(4));
      case 0xc7: return ext(uint(1));
      case 0xc8: return ext(uint(2));
      case 0xc9: return ext(uint(4));
      case 0xca: { need(4); const v = view.getFloat32(pos); pos += 4; return v; }
      case 0xcb: { need(8); const v = view.getFloat64(pos); pos += 8; return v; }
      case 0xcc: return uint(1);
      case 0xcd: return uint(2);
      case 0xce: return uint(4);
      case 0xcf: return uint(8);
      case 0xd0: return signed(1);
      case 0xd1: return signed(2);
      case 0xd2: return signed(4);
      case 0xd3: return signed(8);
      case 0xd4: return ext(1);
      case 0xd5: return ext(2);
      case 0xd6: return ext(4);
      case 0xd7: return ext(8);
      case 0xd8: return ext(16);
      case 0xd9: return str(uint(1));
      case 0xda: return str(uint(2));
      case 0xdb: return str(uint(4));
      case 0xdc: return array(uint(2));
      case 0xdd: return array(uint(4));
      case 0xde: return map(uint(2));
      case 0xdf: return map(uint(4));
      default: throw new RangeError(`msgpack: bad byte 0x${b.toString(16)}`);
    }
  }

  const value = read();
  return value;
}
