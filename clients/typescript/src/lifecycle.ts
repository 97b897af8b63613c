/**
 * Page lifecycle: calls `hide` when the page is hidden or going away (`pagehide`,
 * `visibilitychange` to hidden), `show` when it is visible again, `online` when the browser is
 * back online. Returns the function that removes the listeners; does nothing outside browsers.
 */
export function watchPage(hide: () => void, show: () => void, online: () => void): () => void {
  const g = globalThis as any;
  const doc = g.document;
  if (!doc || !g.addEventListener) return () => {};
  // pagehide fires before the document turns hidden; a page shown again owns its queue again.
  const visibility = () => (doc.visibilityState == 'hidden' ? hide() : show());
  g.addEventListener('pagehide', hide);
  doc.addEventListener('visibilitychange', visibility);
  g.addEventListener('online', online);
  return () => {
    g.removeEventListener('pagehide', hide);
    doc.removeEventListener('visibilitychange', visibility);
    g.removeEventListener('online', online);
  };
}
