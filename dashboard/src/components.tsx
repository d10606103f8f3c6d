// Small pieces every page uses: times, status badges, errors, buttons that wait for their action.
import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import type { Release } from '../../protocol/api.js';
import { ApiError } from './api.js';

export function ago(iso: string | null | undefined, now: number = Date.now()): string {
  if (iso === null || iso === undefined) return 'never';
  const seconds = Math.round((now - Date.parse(iso)) / 1000);
  if (!Number.isFinite(seconds)) return iso;
  if (seconds < 60) return `${Math.max(0, seconds)} s ago`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.round(seconds / 3600)} h ago`;
  return `${Math.round(seconds / 86400)} d ago`;
}

export function Time(props: { at: string | null | undefined }) {
  return props.at ? (
    <time dateTime={props.at} title={props.at}>
      {ago(props.at)}
    </time>
  ) : (
    <span>never</span>
  );
}

export type Tone = 'good' | 'bad' | 'warn' | 'info' | 'muted';

export function Badge(props: { tone: Tone; children: ComponentChildren }) {
  return <span class={`badge ${props.tone}`}>{props.children}</span>;
}

export function ErrorBox(props: { error: string | null }) {
  return props.error === null ? null : (
    <p class="error" role="alert">
      {props.error}
    </p>
  );
}

export function Loading(props: { error: string | null }) {
  return props.error !== null ? <ErrorBox error={props.error} /> : <p class="muted">Loading…</p>;
}

export function messageOf(err: unknown): string {
  return err instanceof ApiError || err instanceof Error ? err.message : String(err);
}

/** A button that runs an action, is disabled while it runs and shows its error next to it. */
export function ActionButton(props: {
  label: string;
  run: () => Promise<unknown>;
  confirm?: string;
  kind?: 'primary' | 'danger';
  disabled?: boolean;
  onDone?: () => void;
}) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  return (
    <span class="action">
      <button
        type="button"
        class={props.kind ?? ''}
        disabled={busy || props.disabled === true}
        onClick={async () => {
          if (props.confirm !== undefined && !confirm(props.confirm)) return;
          setBusy(true);
          setError(null);
          try {
            await props.run();
            props.onDone?.();
          } catch (err) {
            setError(messageOf(err));
          } finally {
            setBusy(false);
          }
        }}
      >
        {busy ? `${props.label}…` : props.label}
      </button>
      <ErrorBox error={error} />
    </span>
  );
}

export function Stat(props: { label: string; value: number | string; tone?: Tone; testId?: string }) {
  return (
    <div class={`stat ${props.tone ?? ''}`} data-testid={props.testId}>
      <span class="value">{props.value}</span>
      <span class="label">{props.label}</span>
    </div>
  );
}

/**
 * A labelled choice of the releases devices may be sent, by version: only ready ones are offered. `prompt`: an
 * empty first choice ("choose…") so nothing is picked until someone picks.
 */
export function ReadyReleaseSelect(props: {
  releases: readonly Release[] | null;
  value: string;
  onChange: (version: string) => void;
  name?: string;
  prompt?: boolean;
}) {
  return (
    <label>
      Release
      <select name={props.name} value={props.value} onChange={(e) => props.onChange(e.currentTarget.value)}>
        {props.prompt !== false && <option value="">choose…</option>}
        {(props.releases ?? [])
          .filter((r) => r.status === 'ready')
          .map((r) => (
            <option key={r.id} value={r.version}>
              {r.version}
            </option>
          ))}
      </select>
    </label>
  );
}
