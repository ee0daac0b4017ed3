/**
 * The event stream: asks for a session cookie with the operator token (EventSource cannot send
 * it), opens GET /v1/events and feeds each event to the store. When the stream breaks (a server
 * restart, an expired session) it asks for a new session and opens again, every 2 s.
 */
import { DASHBOARD_PATHS, LIVE_EVENTS, type LiveEventName, type LiveEvents } from '../wire.ts';
import { api, AuthError } from './session.ts';

export interface LiveHandlers {
  event<E extends LiveEventName>(event: E, data: LiveEvents[E]): void;
  status(s: 'connecting' | 'live' | 'reconnecting'): void;
  /** The token was refused. */
  signedOut(): void;
}

export function connectLive(h: LiveHandlers): () => void {
  let source: EventSource | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;
  const again = () => {
    if (!stopped) timer = setTimeout(open, 2000);
  };
  async function open(): Promise<void> {
    try {
      await api(DASHBOARD_PATHS.session, { method: 'POST' });
    } catch (err) {
      if (err instanceof AuthError) return h.signedOut();
      h.status('reconnecting');
      return again();
    }
    if (stopped) return;
    source = new EventSource(DASHBOARD_PATHS.events);
    for (const name of LIVE_EVENTS)
      source.addEventListener(name, (m) => h.event(name, JSON.parse((m as MessageEvent<string>).data)));
    source.onopen = () => h.status('live');
    source.onerror = () => {
      source?.close();
      h.status('reconnecting');
      again();
    };
  }
  h.status('connecting');
  void open();
  return () => {
    stopped = true;
    clearTimeout(timer);
    source?.close();
  };
}
