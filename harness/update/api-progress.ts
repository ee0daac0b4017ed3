/**
 * The one reader of what a device reported to the API (percent, message, status): the outcome's
 * progress history, the messages a fault waits for.
 */
import type { UpdateBackend } from '../backend/update-backend.ts';
import { pollUntil } from '../device/shell.ts';
import type { ApiProgressEntry } from './types.ts';

/** The device's progress history at the API, in order; throws when the API cannot be read. */
export async function readApiHistory(backend: UpdateBackend, uuid: string): Promise<ApiProgressEntry[]> {
  const r = await fetch(`${backend.services.urls.api}/v1/devices/${uuid}`, {
    headers: backend.services.operatorHeaders(),
  });
  const body = (await r.json()) as { history?: ApiProgressEntry[] };
  return body.history ?? [];
}

/** The progress history the API holds for a device (empty when it cannot be read). */
export async function fetchProgress(backend: UpdateBackend, uuid: string): Promise<ApiProgressEntry[]> {
  return readApiHistory(backend, uuid).catch(() => []);
}

/** The messages the API received for a device, in order. */
export async function apiMessages(backend: UpdateBackend, uuid: string): Promise<string[]> {
  return (await readApiHistory(backend, uuid)).map((h) => h.message);
}

export function waitForApiMessage(
  backend: UpdateBackend,
  uuid: string,
  message: string,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<true> {
  return pollUntil(
    `"${message}" at the API`,
    async () => ((await apiMessages(backend, uuid)).includes(message) ? true : undefined),
    timeoutMs,
    500,
    signal,
  );
}
