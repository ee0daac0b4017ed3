/**
 * The page's state in signals: the devices of the event stream, the selection, the stream's
 * health, the route, and whether the operator is signed in. Views read `.value` and re-render
 * when it changes; the rules are state.ts's.
 */
import { signal } from '@preact/signals';
import type { LiveEventName, LiveEvents, PolicyAnswer } from '../wire.ts';
import { applyEvent, type Devices, keepSelected } from './state.ts';

export const devices = signal<Devices>(new Map());
export const selected = signal<ReadonlySet<string>>(new Set());
export const live = signal<'connecting' | 'live' | 'reconnecting'>('connecting');
export const signedIn = signal(false);
export const policy = signal<PolicyAnswer | undefined>(undefined);
export const route = signal(location.hash);

export function onLiveEvent<E extends LiveEventName>(event: E, data: LiveEvents[E]): void {
  devices.value = applyEvent(devices.value, event, data);
  selected.value = keepSelected(selected.value, devices.value);
}

addEventListener('hashchange', () => {
  route.value = location.hash;
});
