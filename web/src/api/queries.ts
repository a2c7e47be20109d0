// Data hooks: one query key per resource, so a mutation can refresh exactly what it changed.
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { api, unwrap } from "./client";
import type { LogQuery, MetricsWindow } from "./types";

export const keys = {
  me: ["me"] as const,
  authConfig: ["auth-config"] as const,
  providers: ["providers"] as const,
  proxies: ["proxies"] as const,
  proxy: (id: number) => ["proxies", id] as const,
  failure: (id: number) => ["proxies", id, "failure"] as const,
  metrics: (window: MetricsWindow) => ["metrics", window] as const,
  logs: (query: LogQuery) => ["logs", query] as const,
  settings: ["settings"] as const,
  health: ["health"] as const,
};

export function useProviders() {
  return useQuery({
    queryKey: keys.providers,
    queryFn: () => unwrap(api.GET("/api/providers")),
    staleTime: Infinity,
  });
}

export function useProxies() {
  return useQuery({
    queryKey: keys.proxies,
    queryFn: () => unwrap(api.GET("/api/proxies")),
    // Status changes (a proxy that fails while running) show up without a reload.
    refetchInterval: (query) => (query.state.data?.some((proxy) => proxy.status === "starting") ? 1000 : 5000),
  });
}

export function useProxy(id: number) {
  return useQuery({
    queryKey: keys.proxy(id),
    queryFn: () => unwrap(api.GET("/api/proxies/{proxy_id}", { params: { path: { proxy_id: id } } })),
    refetchInterval: (query) => (query.state.data?.status === "starting" ? 1000 : 5000),
  });
}

export function useFailure(id: number) {
  return useQuery({
    queryKey: keys.failure(id),
    queryFn: () => unwrap(api.GET("/api/proxies/{proxy_id}/failure", { params: { path: { proxy_id: id } } })),
  });
}

export function useMetrics(window: MetricsWindow) {
  return useQuery({
    queryKey: keys.metrics(window),
    queryFn: () => unwrap(api.GET("/api/metrics", { params: { query: { window } } })),
    refetchInterval: window === "1h" ? 5000 : 30_000,
    placeholderData: keepPreviousData,
  });
}

export function useLogs(query: LogQuery, enabled = true) {
  return useQuery({
    queryKey: keys.logs(query),
    queryFn: () => unwrap(api.GET("/api/logs", { params: { query } })),
    placeholderData: keepPreviousData,
    enabled,
  });
}

export function useHealth() {
  return useQuery({
    queryKey: keys.health,
    queryFn: () => unwrap(api.GET("/healthz")),
    refetchInterval: 5000,
  });
}

export function useSettings(enabled: boolean) {
  return useQuery({
    queryKey: keys.settings,
    queryFn: () => unwrap(api.GET("/api/settings")),
    enabled,
  });
}
