// Whether what the pages show is live: the fleet events stream is open, or the app is getting it back.
import { useStreamState } from './live.js';

const WORDS = { connecting: 'connecting', live: 'live', reconnecting: 'reconnecting', off: 'not live' } as const;

export function LiveIndicator() {
  const state = useStreamState();
  return (
    <span
      class={`live-indicator ${state}`}
      role="status"
      data-testid="live-state"
      data-state={state}
      title={state === 'live' ? 'pages update as the fleet changes' : 'pages may be behind until the stream is back'}
    >
      {WORDS[state]}
    </span>
  );
}
