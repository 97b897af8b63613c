import type { FetchFunction, FetchInit } from './options.js';

/**
 * Browsers limit keepalive requests per page, not per script: Chromium refuses a keepalive `fetch`
 * once the bodies of the keepalive requests in flight from the document would exceed 64 KiB, or
 * once 256 keepalive requests are in flight from its top-level frame. The budget is therefore one
 * object per page, on `globalThis` under a `Symbol.for` key, shared by every client and every copy
 * of this SDK loaded into the page (its shape, `{ bytes, requests }`, is part of that contract).
 */
export const KEEPALIVE_BYTES = 65536;
export const KEEPALIVE_REQUESTS = 256;

export interface KeepaliveBudget {
  /** Body bytes of the keepalive requests in flight. */
  bytes: number;
  /** Keepalive requests in flight. */
  requests: number;
}

const BUDGET = /* @__PURE__ */ Symbol.for('@metrics-collection/client:keepalive');

export const keepaliveBudget = (): KeepaliveBudget => ((globalThis as any)[BUDGET] ||= { bytes: 0, requests: 0 });

/** Whether a keepalive request of `bytes` fits the page's budget now. */
export const keepaliveFits = (bytes: number): boolean => {
  const b = keepaliveBudget();
  return b.bytes + bytes <= KEEPALIVE_BYTES && b.requests < KEEPALIVE_REQUESTS;
};

/** What the client needs of an answer. */
export interface Answer {
  status: number;
  /** The parsed JSON body, `undefined` when there is none or it is not JSON. */
  json: any;
  retryAfter: string | null | undefined;
}

/**
 * One request with a deadline: resolves with the answer once its body is read, or rejects when
 * `fetch` fails, resolves to something that is not a response, or the answer (headers and body)
 * takes longer than `timeoutMs`, in which case the request is aborted. `onStart` receives a
 * function that ends the request at once (used by `close()` at its deadline). The deadline holds
 * even for a custom `fetch` that ignores the abort signal.
 */
export function exchange(
  fetchFn: FetchFunction,
  url: string,
  init: Omit<FetchInit, 'signal'>,
  timeoutMs: number,
  onStart: (end: (why: string) => void) => void,
): Promise<Answer> {
  const g = globalThis as any;
  const controller = g.AbortController && new g.AbortController();
  let timer: any;
  return new Promise<Answer>((resolve, reject) => {
    const end = (why: string) => {
      reject(new Error(why));
      controller && controller.abort();
    };
    timer = setTimeout(() => end('no answer within ' + timeoutMs + ' ms'), timeoutMs);
    timer.unref && timer.unref();
    onStart(end);
    new Promise<any>((r) => r(fetchFn(url, { ...init, signal: controller && controller.signal })))
      .then(async (res) => {
        if (!res || typeof res.status != 'number') throw new TypeError('fetch resolved to ' + typeof res);
        let json;
        try {
          json = await res.json();
        } catch {}
        resolve({ status: res.status, json, retryAfter: res.headers && res.headers.get('retry-after') });
      })
      .then(undefined, reject);
  }).finally(() => clearTimeout(timer));
}
