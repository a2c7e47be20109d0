import { screen, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import type { Metrics } from "../../api/types";
import { fetchMock, json, proxy, providers } from "../../test/api";
import { renderPage } from "../../test/render";
import { DashboardPage } from "./DashboardPage";
import { fillSeries } from "./series";

const now = new Date();
const metrics = (overrides: Partial<Metrics> = {}): Metrics => ({
  window: "1h",
  resolution: "1m",
  totals: {
    requests: 40,
    rpm: 0.67,
    cache_hit_rate: 0.75,
    error_rate: 0.1,
    p50_ms: 1.2,
    p95_ms: 40,
    input_tokens: 100,
    output_tokens: 50,
    cost_usd: 0.0123,
    saved_usd: 0.5,
  },
  series: [
    {
      t: new Date(Math.floor(now.getTime() / 60_000) * 60_000).toISOString(),
      requests: 40,
      rpm: 40,
      cache_hit_rate: 0.75,
      error_rate: 0.1,
      p50_ms: 1.2,
      p95_ms: 40,
      input_tokens: 100,
      output_tokens: 50,
      cost_usd: 0.0123,
      saved_usd: 0.5,
    },
  ],
  proxies: { running: 2, stopped: 1 },
  in_flight: 3,
  ...overrides,
});

describe("DashboardPage", () => {
  it("shows the live numbers and a chart per measure", async () => {
    fetchMock.on("GET /api/metrics", json(metrics()));
    fetchMock.on("GET /api/proxies", json([proxy()]));
    fetchMock.on("GET /api/providers", json(providers));
    renderPage(<DashboardPage />);

    const stats = await screen.findByRole("region", { name: "Statistics" });
    const value = (label: string) =>
      within(stats).getByText(label).parentElement?.querySelector("[data-stat]")?.textContent;
    await within(stats).findByText("Running proxies");
    expect(value("Running proxies")).toBe("2");
    expect(value("In flight")).toBe("3");
    expect(value("Requests / min")).toBe("0.7");
    expect(value("Cache hit rate")).toBe("75.0%");
    expect(value("Error rate")).toBe("10.0%");
    expect(value("Cost")).toBe("$0.012");
    expect(within(stats).getByText("$0.50 saved")).toBeInTheDocument();
    for (const chart of ["Requests", "Cache hits and errors", "Latency", "Cost and savings"]) {
      expect(screen.getByRole("img", { name: `${chart} chart` })).toBeInTheDocument();
    }
    expect(fetchMock.callsTo("GET /api/metrics")[0]?.query.get("window")).toBe("1h");
  });

  it("has an empty state before the first request", async () => {
    fetchMock.on("GET /api/metrics", json(metrics({ totals: { ...metrics().totals, requests: 0 }, series: [] })));
    fetchMock.on("GET /api/proxies", json([]));
    fetchMock.on("GET /api/providers", json(providers));
    renderPage(<DashboardPage />);
    expect(await screen.findByText("No requests in the last hour")).toBeInTheDocument();
    expect(screen.queryByRole("img", { name: "Requests chart" })).not.toBeInTheDocument();
  });

  it("says in words when the statistics cannot be loaded", async () => {
    fetchMock.on("GET /api/metrics", json({ detail: "boom" }, 500));
    fetchMock.on("GET /api/proxies", json([]));
    fetchMock.on("GET /api/providers", json(providers));
    renderPage(<DashboardPage />);
    expect(await screen.findByText("Could not load the statistics")).toBeInTheDocument();
  });
});

describe("fillSeries", () => {
  it("fills every bucket of the window, quiet ones without rates", () => {
    const at = Date.parse("2026-05-01T12:00:30Z");
    const filled = fillSeries(
      metrics({
        series: [{ ...metrics().series[0]!, t: "2026-05-01T11:58:00+00:00" }],
      }),
      at,
    );
    expect(filled).toHaveLength(60);
    expect(filled.at(-1)?.t).toBe("2026-05-01T12:00:00.000Z");
    expect(filled.at(-3)?.requests).toBe(40);
    expect(filled.at(-1)).toMatchObject({ requests: 0, cache_hit_rate: null, p50_ms: null, cost_usd: 0 });
  });
});
