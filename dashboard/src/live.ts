// Keeping a page current without a reload. Today: the page's data is fetched again every few seconds while the tab
// is visible. The fleet events stream (GET /v1/events?fleet=, protocol/fleet-events.ts) replaces the timer here, in
// this one place: pages only say what to load and get it again when something changed.
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { ApiError } from './api.js';

export const REFRESH_MS = 3000;

export interface Loaded<T> {
  data: T | null;
  error: string | null;
  /** Loads again now (after an action). */
  reload: () => void;
}

/** Loads with `load` now, again whenever `deps` change, and again every REFRESH_MS while the tab is visible. */
export function useLive<T>(load: () => Promise<T>, deps: readonly unknown[], live = true): Loaded<T> {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  const loadRef = useRef(load);
  loadRef.current = load;
  const generation = useRef(0);

  const reload = useCallback(() => {
    const mine = ++generation.current;
    loadRef.current().then(
      (value) => {
        if (mine !== generation.current) return;
        setData(value);
        setError(null);
      },
      (err: unknown) => {
        if (mine !== generation.current) return;
        setError(err instanceof ApiError || err instanceof Error ? err.message : String(err));
      },
    );
  }, []);

  useEffect(() => {
    setData(null);
    reload();
    if (!live) return;
    const timer = setInterval(() => {
      if (document.visibilityState === 'visible') reload();
    }, REFRESH_MS);
    return () => clearInterval(timer);
  }, deps);

  return { data, error, reload };
}
