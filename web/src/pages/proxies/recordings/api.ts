// Calls and query hooks for the recordings endpoints, through the authorised fetch and typed by hand
// (types.ts, which follows the API's schema); errors are the same ApiError.
import { keepPreviousData, useInfiniteQuery, useQuery } from "@tanstack/react-query";
import { authorisedFetch, queryString } from "../../../api/client";
import type { Proxy } from "../../../api/types";
import { fromLocalInput } from "../../../lib/format";
import {
  DEFAULT_CACHE,
  type CacheConfig,
  type CacheConfigUpdate,
  type Deleted,
  type EntryDetail,
  type EntryFilters,
  type EntryPage,
  type Rewound,
  type ZipImported,
} from "./types";

export const PAGE_SIZE = 50;

export const recordingKeys = {
  all: (proxyId: number) => ["proxies", proxyId, "recordings"] as const,
  list: (proxyId: number, filters: EntryFilters) => ["proxies", proxyId, "recordings", "list", filters] as const,
  entry: (proxyId: number, key: string, occurrence: number) =>
    ["proxies", proxyId, "recordings", "entry", key, occurrence] as const,
};

async function send<T>(url: string, init: RequestInit = {}): Promise<T> {
  const headers = new Headers(init.headers);
  if (init.body) headers.set("Content-Type", "application/json");
  const response = await authorisedFetch(url, { ...init, headers });
  return (await response.json()) as T;
}

const base = (proxyId: number) => `/api/proxies/${proxyId}/cache`;
const entryUrl = (proxyId: number, key: string) => `${base(proxyId)}/${encodeURIComponent(key)}`;

/** The proxy's cache config; a server that predates it (or leaves fields out) means the defaults. */
export function cacheOf(proxy: Proxy): CacheConfig {
  const raw = (proxy as Proxy & { cache?: Partial<CacheConfig> | null }).cache;
  return { ...DEFAULT_CACHE, ...(raw ?? {}) };
}

export function saveCache(proxyId: number, cache: CacheConfigUpdate): Promise<Proxy> {
  return send<Proxy>(`/api/proxies/${proxyId}`, { method: "PATCH", body: JSON.stringify({ cache }) });
}

export function rewind(proxyId: number, namespace?: string): Promise<Rewound> {
  return send<Rewound>(`${base(proxyId)}/rewind${queryString({ namespace })}`, { method: "POST" });
}

export function clearNamespace(proxyId: number, namespace: string): Promise<Deleted> {
  return send<Deleted>(`${base(proxyId)}${queryString({ namespace })}`, { method: "DELETE" });
}

export function deleteEntry(proxyId: number, key: string, occurrence: number): Promise<Deleted> {
  return send<Deleted>(`${entryUrl(proxyId, key)}${queryString({ occurrence })}`, { method: "DELETE" });
}

const zipUrl = (proxyId: number) => `/api/proxies/${proxyId}/recordings.zip`;

/** The recordings (all, or one namespace's) as the zip `rubberduck recordings export` would write; saved by the browser. */
export async function downloadZip(proxyId: number, namespace?: string): Promise<void> {
  const response = await authorisedFetch(`${zipUrl(proxyId)}${queryString({ namespace })}`);
  const blob = await response.blob();
  const named = /filename="?([^";]+)"?/.exec(response.headers.get("Content-Disposition") ?? "")?.[1];
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = named ?? `recordings-${proxyId}.zip`;
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
}

/** Imports every recording of the zip, or none (a 422 names each bad file). */
export async function uploadZip(proxyId: number, file: File): Promise<ZipImported> {
  const form = new FormData();
  form.append("file", file, file.name);
  const response = await authorisedFetch(zipUrl(proxyId), { method: "POST", body: form });
  return (await response.json()) as ZipImported;
}

export function entryQuery(filters: EntryFilters) {
  return {
    namespace: filters.namespace.trim(),
    operation: filters.operation.trim(),
    model: filters.model.trim(),
    unused_since: fromLocalInput(filters.unused_since),
  };
}

export function useEntries(proxyId: number, filters: EntryFilters) {
  return useInfiniteQuery({
    queryKey: recordingKeys.list(proxyId, filters),
    queryFn: ({ pageParam }) =>
      send<EntryPage>(
        `${base(proxyId)}${queryString({ ...entryQuery(filters), limit: PAGE_SIZE, cursor: pageParam })}`,
      ),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => last.next_cursor ?? undefined,
    placeholderData: keepPreviousData,
  });
}

export function useEntry(proxyId: number, key: string, occurrence: number) {
  return useQuery({
    queryKey: recordingKeys.entry(proxyId, key, occurrence),
    queryFn: () => send<EntryDetail>(`${entryUrl(proxyId, key)}${queryString({ occurrence })}`),
  });
}
