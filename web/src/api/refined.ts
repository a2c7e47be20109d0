// Where the OpenAPI schema is not specific enough, the answer bodies are typed here, by hand, while
// the paths and parameters still come from the schema. The log rows and the metrics are declared as
// open JSON objects by the server; the social sign-in routes exist only when a provider is configured.
import type { operations, paths } from "./schema.gen";

export type CacheStatus = "hit" | "miss" | "bypass";

export interface LogRow {
  id: number;
  created_at: string;
  proxy_id: number;
  client_ip: string | null;
  method: string;
  path: string;
  operation: string | null;
  model: string | null;
  stream: boolean;
  status: number;
  latency_ms: number;
  upstream_ms: number | null;
  ttfb_ms: number | null;
  cache_status: CacheStatus;
  cache_key: string | null;
  fault: string | null;
  input_tokens: number | null;
  output_tokens: number | null;
  cached_tokens: number | null;
  cost_usd: number | null;
  saved_usd: number | null;
  error: string | null;
}

export interface LogPage {
  items: LogRow[];
  next_cursor: string | null;
}

export type MetricsWindow = "1h" | "24h" | "7d";

export interface MetricsSummary {
  requests: number;
  rpm: number;
  cache_hit_rate: number | null; // null when there were no requests
  error_rate: number | null;
  p50_ms: number | null;
  p95_ms: number | null;
  input_tokens: number;
  output_tokens: number;
  cost_usd: number;
  saved_usd: number;
}

export interface MetricsPoint extends MetricsSummary {
  t: string;
}

export interface Metrics {
  window: MetricsWindow;
  resolution: "1m" | "15m" | "1h";
  totals: MetricsSummary;
  series: MetricsPoint[]; // only the buckets that saw requests
  proxies: { running: number; stopped: number };
  in_flight: number;
}

type Json<T> = { headers: { [name: string]: unknown }; content: { "application/json": T } };
type WithOk<Op, T> = Omit<Op, "responses"> & {
  responses: Omit<Op extends { responses: infer R } ? R : never, 200> & { 200: Json<T> };
};
type Route<Item, Methods> = Omit<Item, keyof Methods> & Methods;

type Authorize = {
  parameters: { query?: never; header?: never; path?: never; cookie?: never };
  get: {
    parameters: { query?: never; header?: never; path?: never; cookie?: never };
    requestBody?: never;
    responses: { 200: Json<{ authorization_url: string }> };
  };
};

export interface RefinedPaths {
  "/api/logs": Route<paths["/api/logs"], { get: WithOk<operations["list_logs_api_logs_get"], LogPage> }>;
  "/api/metrics": Route<paths["/api/metrics"], { get: WithOk<operations["get_metrics_api_metrics_get"], Metrics> }>;
  "/api/auth/google/authorize": Authorize;
  "/api/auth/github/authorize": Authorize;
}
