import type { Metrics, MetricsPoint } from "../../api/types";

const STEP_MS: Record<Metrics["resolution"], number> = { "1m": 60_000, "15m": 900_000, "1h": 3_600_000 };
export const SPAN_MS: Record<Metrics["window"], number> = { "1h": 3_600_000, "24h": 86_400_000, "7d": 604_800_000 };

/**
 * The API sends only the buckets that saw requests. Charts need every bucket of the window, so the
 * quiet ones are filled in: no requests, no cost, and no rate or latency at all (not zero).
 */
export function fillSeries(metrics: Metrics, now = Date.now()): MetricsPoint[] {
  const step = STEP_MS[metrics.resolution] ?? 60_000;
  const byTime = new Map(metrics.series.map((point) => [Math.floor(Date.parse(point.t) / step) * step, point]));
  const last = Math.floor(now / step) * step;
  const first = last - SPAN_MS[metrics.window] + step;
  const filled: MetricsPoint[] = [];
  for (let t = first; t <= last; t += step) {
    filled.push(
      byTime.get(t) ?? {
        t: new Date(t).toISOString(),
        requests: 0,
        rpm: 0,
        cache_hit_rate: null,
        error_rate: null,
        p50_ms: null,
        p95_ms: null,
        input_tokens: 0,
        output_tokens: 0,
        cost_usd: 0,
        saved_usd: 0,
      },
    );
  }
  return filled;
}
