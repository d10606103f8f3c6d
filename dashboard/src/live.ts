// Keeping a page current without a reload. The app holds one fleet events stream (GET /v1/events: every fleet the
// user may read, protocol/fleet-events.ts) for all its pages; a page says what to load, and which events concern
// it, and loads again when one arrives (a burst of them is one reload), when the stream says events were missed
// (`reset`), and when the stream comes back after a break (EventSource resumes with Last-Event-ID by itself, but
// what happened while it reconnected may be gone). A slow timer covers what no event announces (a device's
// metrics, a service restarting within a release); pages showing a device's logs keep their own stream.
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { FLEET_EVENT_KINDS, type FleetEvent, type FleetEventKind } from '../../protocol/fleet-events.js';
import { FLEET_EVENT, RESET_EVENT } from '../../protocol/http/events.js';
import { ApiError, urlOf, whenChanged } from './api.js';
import { API } from './routes.js';

/** How long a page waits after an event for more of the same burst before it loads again. */
export const DEBOUNCE_MS = 300;
/** The longest a page waits after an event, however slow its load. */
const MAX_DEBOUNCE_MS = 10_000;
/** The slow refresh for what no event covers; a stored override (FALLBACK_KEY) changes it, within bounds. */
export const FALLBACK_REFRESH_MS = 60_000;
/** localStorage key of the fallback refresh in milliseconds: operators on a metered link lengthen it. */
export const FALLBACK_KEY = 'skiff.fallbackRefreshMs';
const FALLBACK_BOUNDS = { min: 5_000, max: 24 * 3600_000 } as const;
/** Larger events than this are not read: a fleet event is small (its summary is at most 1 KiB). */
const MAX_EVENT_CHARS = 16 * 1024;
/** After the stream is refused outright (not a network break, which EventSource retries itself): wait, then retry. */
const RETRY_MS = { first: 2_000, max: 60_000 } as const;
/** How long the stream stays open with no page listening: moving from page to page keeps it, logging out ends it. */
const LINGER_MS = 10_000;

const KINDS: ReadonlySet<string> = new Set(FLEET_EVENT_KINDS);

export type StreamState = 'connecting' | 'live' | 'reconnecting' | 'off';

/** What is known of an event: enough to route it, read defensively (the stream is trusted, still bounded). */
export type LiveEvent = Pick<FleetEvent, 'id' | 'kind' | 'fleet' | 'device' | 'release' | 'rollout'>;

/** Which events a page reloads on; absent: every event of the fleets the user reads. */
export type Concerns = (event: LiveEvent) => boolean;

type Listener = { concerns: Concerns; changed: () => void; all: () => void };

function fallbackMs(): number {
  try {
    const stored = Number(localStorage.getItem(FALLBACK_KEY));
    if (Number.isFinite(stored) && stored > 0)
      return Math.min(FALLBACK_BOUNDS.max, Math.max(FALLBACK_BOUNDS.min, stored));
  } catch {
    // Storage refused (a private window's policy): the default it is.
  }
  return FALLBACK_REFRESH_MS;
}

function text(value: unknown, max: number): string | undefined {
  return typeof value === 'string' && value.length <= max ? value : undefined;
}

/** The event's routing fields, or null when the data is not a fleet event. */
export function readEvent(data: unknown): LiveEvent | null {
  if (typeof data !== 'string' || data.length > MAX_EVENT_CHARS) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(data);
  } catch {
    return null;
  }
  if (typeof parsed !== 'object' || parsed === null) return null;
  const record = parsed as Record<string, unknown>;
  const kind = text(record.kind, 64);
  const fleet = text(record.fleet, 64);
  const id = text(record.id, 64);
  if (kind === undefined || !KINDS.has(kind) || fleet === undefined || id === undefined) return null;
  const event: LiveEvent = { id, kind: kind as FleetEventKind, fleet };
  const device = text(record.device, 64);
  const release = text(record.release, 128);
  const rollout = text(record.rollout, 64);
  if (device !== undefined) event.device = device;
  if (release !== undefined) event.release = release;
  if (rollout !== undefined) event.rollout = rollout;
  return event;
}

/** The app's one stream: opened while some page listens, closed when none does (logged out). */
class LiveStream {
  private source: EventSource | null = null;
  private readonly listeners = new Set<Listener>();
  private readonly watchers = new Set<(state: StreamState) => void>();
  private state: StreamState = 'off';
  private broken = false;
  private retry: ReturnType<typeof setTimeout> | null = null;
  private retryMs: number = RETRY_MS.first;
  private linger: ReturnType<typeof setTimeout> | null = null;

  listen(listener: Listener): () => void {
    this.listeners.add(listener);
    if (this.linger !== null) clearTimeout(this.linger);
    this.linger = null;
    if (this.source === null && this.retry === null) this.open();
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0 && this.linger === null)
        this.linger = setTimeout(() => {
          this.linger = null;
          if (this.listeners.size === 0) this.close();
        }, LINGER_MS);
    };
  }

  watch(watcher: (state: StreamState) => void): () => void {
    this.watchers.add(watcher);
    watcher(this.state);
    return () => this.watchers.delete(watcher);
  }

  private set(state: StreamState): void {
    if (state === this.state) return;
    this.state = state;
    for (const watcher of this.watchers) watcher(state);
  }

  private open(): void {
    this.retry = null;
    this.set(this.broken ? 'reconnecting' : 'connecting');
    const source = new EventSource(urlOf(API.fleetEvents, {}));
    this.source = source;
    source.onopen = () => {
      this.retryMs = RETRY_MS.first;
      this.set('live');
      // Back after a break: what happened meanwhile may not be replayed, so every page looks again.
      if (this.broken) this.everything();
      this.broken = false;
    };
    source.onerror = () => {
      this.broken = true;
      if (source.readyState === EventSource.CLOSED) {
        // Refused (session gone, too many streams, a proxy's error page): EventSource gives up; retry later.
        source.close();
        this.source = null;
        this.set('reconnecting');
        this.retry = setTimeout(() => this.open(), this.retryMs);
        this.retryMs = Math.min(RETRY_MS.max, this.retryMs * 2);
      } else {
        this.set('reconnecting');
      }
    };
    source.addEventListener(FLEET_EVENT, (message) => {
      const event = readEvent((message as MessageEvent<unknown>).data);
      if (event === null) return;
      for (const listener of this.listeners) if (listener.concerns(event)) listener.changed();
    });
    source.addEventListener(RESET_EVENT, () => this.everything());
  }

  /** Every page looks again (debounced like events). */
  everything(): void {
    for (const listener of this.listeners) listener.all();
  }

  private close(): void {
    this.source?.close();
    this.source = null;
    if (this.retry !== null) clearTimeout(this.retry);
    this.retry = null;
    this.broken = false;
    this.set('off');
  }
}

const stream = new LiveStream();
// The user's own changes reload every live page: many have no fleet event (a pin, a tag, an audit entry).
whenChanged(() => stream.everything());

/** Whether pages are live: for the indicator in the header. */
export function useStreamState(): StreamState {
  const [state, setState] = useState<StreamState>('off');
  useEffect(() => stream.watch(setState), []);
  return state;
}

export interface Loaded<T> {
  data: T | null;
  error: string | null;
  /** Loads again now (after an action). */
  reload: () => void;
}

/**
 * Loads with `load` now, again whenever `deps` change, and, when `live`, again after fleet events that `concerns`
 * (every event when absent), a `reset` or a reconnection, and every fallback period; reloads wait while the tab is
 * hidden and happen once when it shows again.
 */
export function useLive<T>(
  load: () => Promise<T>,
  deps: readonly unknown[],
  live = true,
  concerns?: Concerns,
): Loaded<T> {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  const loadRef = useRef(load);
  loadRef.current = load;
  const concernsRef = useRef(concerns);
  concernsRef.current = concerns;
  const generation = useRef(0);
  /** How long the last load took: a page that is slow to load waits longer between reloads. */
  const took = useRef(0);

  const reload = useCallback(() => {
    const mine = ++generation.current;
    const started = performance.now();
    loadRef.current().then(
      (value) => {
        took.current = performance.now() - started;
        if (mine !== generation.current) return;
        setData(value);
        setError(null);
      },
      (err: unknown) => {
        took.current = performance.now() - started;
        if (mine !== generation.current) return;
        setError(err instanceof ApiError || err instanceof Error ? err.message : String(err));
      },
    );
  }, []);

  useEffect(() => {
    setData(null);
    reload();
    if (!live) return;
    let pending: ReturnType<typeof setTimeout> | null = null;
    let missed = false;
    // The first event of a burst schedules one reload; the rest of the burst joins it rather than pushing it back,
    // so a fleet that never goes quiet still gets its page reloaded, at most once per DEBOUNCE_MS or twice the
    // time a load takes, whichever is longer: a large fleet's busy hour must not turn a page into a load loop.
    const soon = () => {
      if (pending !== null) return;
      const wait = Math.min(MAX_DEBOUNCE_MS, Math.max(DEBOUNCE_MS, 2 * took.current));
      pending = setTimeout(() => {
        pending = null;
        if (document.visibilityState === 'visible') reload();
        else missed = true;
      }, wait);
    };
    const visible = () => {
      if (document.visibilityState === 'visible' && missed) {
        missed = false;
        reload();
      }
    };
    const stop = stream.listen({
      concerns: (event) => concernsRef.current?.(event) ?? true,
      changed: soon,
      all: soon,
    });
    const timer = setInterval(soon, fallbackMs());
    addEventListener('visibilitychange', visible);
    return () => {
      stop();
      clearInterval(timer);
      if (pending !== null) clearTimeout(pending);
      removeEventListener('visibilitychange', visible);
    };
  }, deps);

  return { data, error, reload };
}
