// The one typed API client: paths and bodies come from the OpenAPI schema (schema.gen.ts, generated
// from the running code by `npm run gen:api`), with the few open-ended answers typed in refined.ts.
import createClient, { type Middleware } from "openapi-fetch";
import { ApiError } from "./errors";
import type { RefinedPaths } from "./refined";
import type { paths } from "./schema.gen";
import { getToken, setToken } from "./session";

export type ApiPaths = Omit<paths, keyof RefinedPaths> & RefinedPaths;

const auth: Middleware = {
  onRequest({ request }) {
    const token = getToken();
    if (token && !request.headers.has("Authorization")) request.headers.set("Authorization", `Bearer ${token}`);
    return request;
  },
  onResponse({ request, response }) {
    // An expired or revoked token: drop it so the app shows the sign-in page instead of errors.
    if (response.status === 401 && request.headers.has("Authorization")) setToken(null);
    return response;
  },
};

// Same origin as the page; spelled out because Request() outside a browser needs absolute URLs.
export const api = createClient<ApiPaths>({ baseUrl: globalThis.location?.origin ?? "" });
api.use(auth);

interface Outcome<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

/** The body of a successful answer, or an ApiError carrying the server's `detail`. */
export async function unwrap<T>(call: Promise<Outcome<T>>): Promise<T> {
  const { data, error, response } = await call;
  if (!response.ok) {
    const detail = typeof error === "object" && error !== null && "detail" in error ? error.detail : error;
    throw new ApiError(response.status, detail);
  }
  return data as T;
}

/** A raw authorised fetch, for answers that are not JSON (downloads, event streams). */
export async function authorisedFetch(url: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  const token = getToken();
  if (token) headers.set("Authorization", `Bearer ${token}`);
  const response = await fetch(url, { ...init, headers });
  if (!response.ok) {
    let detail: unknown = null;
    try {
      detail = ((await response.json()) as { detail?: unknown }).detail;
    } catch {
      // not JSON: the status says enough
    }
    if (response.status === 401) setToken(null);
    throw new ApiError(response.status, detail);
  }
  return response;
}

/** Query string of the non-empty values, in a stable order. */
export function queryString(params: Record<string, string | number | boolean | null | undefined>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}
