/**
 * The operator token in the page: taken from the URL's fragment (`#token=...`, which the browser
 * never sends to a server) or the login form, kept in sessionStorage (this tab only, gone when it
 * closes), removed from the address bar at once; sent as a Bearer token with every API request.
 */
const KEY = 'huplab.operatorToken';

/** Takes a token from the fragment into the session; the token of the session, if any. */
export function takeToken(): string | undefined {
  const m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (m) {
    sessionStorage.setItem(KEY, decodeURIComponent(m[1]!));
    history.replaceState(null, '', `${location.pathname}#/`);
  }
  return sessionStorage.getItem(KEY) ?? undefined;
}

export function setToken(token: string): void {
  sessionStorage.setItem(KEY, token);
}

export function forgetToken(): void {
  sessionStorage.removeItem(KEY);
}

/** The token was refused (or is missing): the page shows the login form. */
export class AuthError extends Error {}

/** An API answer that is not 2xx: its status and the API's one-line error. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly body: unknown,
  ) {
    super(message);
  }
}

/** A JSON request to the lab's API with the operator token. */
export async function api<T>(path: string, init: RequestInit = {}): Promise<T> {
  const token = sessionStorage.getItem(KEY);
  if (!token) throw new AuthError('no operator token');
  const res = await fetch(path, {
    ...init,
    credentials: 'same-origin',
    headers: {
      Authorization: `Bearer ${token}`,
      ...(init.body ? { 'Content-Type': 'application/json' } : {}),
      ...init.headers,
    },
  });
  if (res.status === 401) {
    forgetToken();
    throw new AuthError('the operator token was refused');
  }
  const text = await res.text();
  const body = text ? (JSON.parse(text) as unknown) : undefined;
  if (!res.ok) {
    const message = (body as { error?: string } | undefined)?.error ?? `${res.status} ${res.statusText}`;
    throw new ApiError(res.status, message, body);
  }
  return body as T;
}
