/**
 * Storage adapters. The client core persists a few small values (visitor
 * token, outbox) through an adapter with the shape of Web Storage:
 *
 *     { getItem(key) -> string | null, setItem(key, string), removeItem(key) }
 *
 * `window.localStorage` is one as is; `wxStorage`/`uniStorage` (transport
 * modules) wrap the mini-program APIs; `memoryStorage()` is for tests and for
 * browsers where storage throws (private mode, blocked cookies).
 */

export function memoryStorage(initial = {}) {
  const map = new Map(Object.entries(initial));
  return {
    getItem: (key) => (map.has(key) ? map.get(key) : null),
    setItem: (key, value) => void map.set(key, String(value)),
    removeItem: (key) => void map.delete(key),
    keys: () => [...map.keys()],
  };
}

/**
 * JSON values under `prefix` in `storage`; never throws (a full or disabled
 * storage must not break chatting, it only loses persistence).
 */
export function namespacedStore(storage, prefix) {
  return {
    prefix,
    get(name, fallback = null) {
      try {
        const raw = storage.getItem(prefix + name);
        return raw == null || raw === '' ? fallback : JSON.parse(raw);
      } catch (_) {
        return fallback;
      }
    },
    set(name, value) {
      try {
        storage.setItem(prefix + name, JSON.stringify(value));
      } catch (_) {
        /* quota or disabled storage: keep working in memory */
      }
    },
    remove(name) {
      try {
        storage.removeItem(prefix + name);
      } catch (_) {
        /* ignore */
      }
    },
  };
}

/** The key prefix every value of a site's widget is stored under. */
export function storagePrefix(site) {
  return `chatd:${site}:`;
}

/** Names of everything the client and panel persist, so `reset` can forget all of it. */
export const STORED_NAMES = Object.freeze(['token', 'visitor', 'outbox', 'read', 'rated', 'prechat']);
