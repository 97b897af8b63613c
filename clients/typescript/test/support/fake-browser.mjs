// Just enough of a browser page for the lifecycle code: window events, document visibility,
// navigator.onLine / sendBeacon and localStorage. Installed on globalThis, removed afterwards.

/** The page's keepalive budget, shared by every client and copy of the SDK in the page. */
export const KEEPALIVE = Symbol.for('@metrics-collection/client:keepalive');

/** The names of `metrics`, in order. */
export const names = (metrics) => metrics.map((m) => m.name);

/** Records `n` gauges `<prefix>0`..`<prefix>n-1` in `client`, each with a tag of `pad` bytes when `pad` > 0. */
export const record = (client, n, pad = 0, prefix = 'm') => {
  for (let i = 0; i < n; i++) client.gauge(prefix + i, i, pad ? { pad: 'x'.repeat(pad) } : undefined);
};

export function installBrowser({ onLine = true, beacon = () => true, storage = new Map() } = {}) {
  // A new page starts with nothing in flight.
  delete globalThis[KEEPALIVE];
  const win = new EventTarget();
  const document = Object.assign(new EventTarget(), { visibilityState: 'visible' });
  const beacons = [];
  const navigator = {
    onLine,
    sendBeacon:
      beacon &&
      ((url, data) => {
        const accepted = beacon(url, data);
        if (accepted) beacons.push({ url, data });
        return accepted;
      }),
  };
  const localStorage = {
    getItem: (k) => (storage.has(k) ? storage.get(k) : null),
    setItem: (k, v) => void storage.set(k, String(v)),
    removeItem: (k) => void storage.delete(k),
  };
  const globals = {
    document,
    navigator,
    localStorage,
    addEventListener: win.addEventListener.bind(win),
    removeEventListener: win.removeEventListener.bind(win),
  };
  for (const [k, value] of Object.entries(globals))
    Object.defineProperty(globalThis, k, { value, configurable: true, writable: true });
  return {
    document,
    navigator,
    storage,
    beacons,
    /** Fires a window event (`pagehide`, `online`). */
    fire: (type) => win.dispatchEvent(new Event(type)),
    /** Sets document.visibilityState and fires visibilitychange. */
    visibility: (state) => {
      document.visibilityState = state;
      document.dispatchEvent(new Event('visibilitychange'));
    },
    uninstall: () => {
      for (const k of Object.keys(globals)) delete globalThis[k];
      delete globalThis[KEEPALIVE];
    },
  };
}
