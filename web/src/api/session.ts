// The signed-in user's access token. The API uses bearer tokens, so it lives in localStorage and is
// sent by the client; other tabs see sign-in and sign-out through the storage event.

const KEY = "rubberduck.token";
type Listener = (token: string | null) => void;
const listeners = new Set<Listener>();

function read(): string | null {
  try {
    return window.localStorage.getItem(KEY);
  } catch {
    return null; // storage blocked (private mode): the session lasts as long as the page
  }
}

let current: string | null = typeof window === "undefined" ? null : read();

export function getToken(): string | null {
  return current;
}

export function setToken(token: string | null): void {
  current = token;
  try {
    if (token) window.localStorage.setItem(KEY, token);
    else window.localStorage.removeItem(KEY);
  } catch {
    // see read()
  }
  for (const listener of listeners) listener(token);
}

export function onTokenChange(listener: Listener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

if (typeof window !== "undefined") {
  window.addEventListener("storage", (event) => {
    if (event.key === KEY) {
      current = event.newValue;
      for (const listener of listeners) listener(current);
    }
  });
}
