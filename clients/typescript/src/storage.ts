import type { Entry } from './queue.js';
import type { Metric } from './wire.js';

/** The part of `localStorage` the client uses. */
export interface StorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/** `localStorage`, or `undefined` where it is missing or blocked (reading it can throw). */
export function localStore(): StorageLike | undefined {
  try {
    return (globalThis as any).localStorage || undefined;
  } catch {}
}

/**
 * Replaces the stored copy under `key` with `entries`, or removes it when there are none. The
 * entries' JSON text is written as it is, so what is stored is exactly what would be sent.
 */
export function saveEntries(store: StorageLike, key: string, entries: Entry[]): void {
  if (entries.length) store.setItem(key, '[' + entries.map((e) => e.s).join() + ']');
  else store.removeItem(key);
}

/** Reads and removes the copy under `key`: the metrics a previous page left. */
export function takeSaved(store: StorageLike, key: string): Metric[] {
  try {
    const saved = JSON.parse(store.getItem(key) || '[]');
    store.removeItem(key);
    return Array.isArray(saved) ? saved : [];
  } catch {
    return [];
  }
}
