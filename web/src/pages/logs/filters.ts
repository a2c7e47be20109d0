// Log filters live in the URL, so a filtered view can be bookmarked and shared.
import type { CacheStatus, LogQuery } from "../../api/types";
import { fromLocalInput } from "../../lib/format";

export const RANGES = [
  { value: "", label: "All time" },
  { value: "15m", label: "Last 15 minutes" },
  { value: "1h", label: "Last hour" },
  { value: "24h", label: "Last 24 hours" },
  { value: "7d", label: "Last 7 days" },
  { value: "custom", label: "Custom range" },
] as const;

const RANGE_MS: Record<string, number> = { "15m": 900_000, "1h": 3_600_000, "24h": 86_400_000, "7d": 604_800_000 };

export interface LogFilters {
  proxy_id: string;
  status: string;
  cache_status: string;
  fault: string;
  model: string;
  range: string;
  since: string; // datetime-local, for the custom range
  until: string;
}

export const FILTER_KEYS: (keyof LogFilters)[] = [
  "proxy_id",
  "status",
  "cache_status",
  "fault",
  "model",
  "range",
  "since",
  "until",
];

export function readFilters(params: URLSearchParams): LogFilters {
  const get = (key: string) => params.get(key) ?? "";
  return {
    proxy_id: get("proxy_id"),
    status: get("status"),
    cache_status: get("cache_status"),
    fault: get("fault"),
    model: get("model"),
    range: get("range"),
    since: get("since"),
    until: get("until"),
  };
}

export function writeFilters(filters: LogFilters): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of FILTER_KEYS) {
    if (filters[key] && (filters.range === "custom" || (key !== "since" && key !== "until"))) out[key] = filters[key];
  }
  return out;
}

/** The API query for the filters; relative ranges are measured from `now`. */
export function toQuery(filters: LogFilters, now = Date.now()): LogQuery {
  const query: LogQuery = {};
  if (filters.proxy_id) query.proxy_id = Number(filters.proxy_id);
  if (filters.status) query.status = filters.status;
  if (filters.cache_status) query.cache_status = filters.cache_status as CacheStatus;
  if (filters.fault) query.fault = filters.fault;
  if (filters.model.trim()) query.model = filters.model.trim();
  if (filters.range === "custom") {
    const since = fromLocalInput(filters.since);
    const until = fromLocalInput(filters.until);
    if (since) query.since = since;
    if (until) query.until = until;
  } else if (RANGE_MS[filters.range]) {
    query.since = new Date(now - (RANGE_MS[filters.range] ?? 0)).toISOString();
  }
  return query;
}

export function isFiltered(filters: LogFilters): boolean {
  return FILTER_KEYS.some((key) => filters[key] !== "");
}

/** Whether a row from the live stream belongs in the filtered view (the server filters too). */
export function matches(
  query: LogQuery,
  row: { proxy_id: number; status: number; cache_status: string; fault: string | null; model: string | null },
): boolean {
  if (query.proxy_id !== undefined && row.proxy_id !== query.proxy_id) return false;
  if (query.cache_status && row.cache_status !== query.cache_status) return false;
  if (query.fault && row.fault !== query.fault) return false;
  if (query.model && row.model !== query.model) return false;
  if (query.status) {
    const status = query.status.toLowerCase();
    if (/^\dxx$/.test(status)) {
      if (String(row.status)[0] !== status[0]) return false;
    } else if (String(row.status) !== status) return false;
  }
  return true;
}
