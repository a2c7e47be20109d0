import { useMemo, useState, type ReactNode } from "react";
import { Link } from "react-router";
import { useMetrics, useProxies, useProviders } from "../../api/queries";
import type { MetricsPoint, MetricsWindow } from "../../api/types";
import { Segmented } from "../../components/form";
import { BoltIcon, ServerIcon } from "../../components/icons";
import { Legend, TimeSeriesChart, type Series } from "../../components/TimeSeriesChart";
import { Card, CardHeader, cx, EmptyState, ErrorNotice, PageHeader, Skeleton, StatusDot } from "../../components/ui";
import { formatCount, formatMs, formatPercent, formatRate, formatUsd } from "../../lib/format";
import { fillSeries, SPAN_MS } from "./series";

const ACCENT = "#635bff";
const GREEN = "#10b981";
const RED = "#ef4444";
const SKY = "#0ea5e9";

function Stat({
  label,
  value,
  detail,
  tone,
}: {
  label: string;
  value: ReactNode;
  detail?: ReactNode;
  tone?: "good" | "bad";
}) {
  return (
    <Card className="px-5 py-4">
      <p className="text-[13px] font-medium text-slate-500">{label}</p>
      <p
        className={cx(
          "mt-1.5 font-semibold tracking-tight tabular",
          // Tiny LLM costs have many digits: a smaller size keeps them inside the card.
          typeof value === "string" && value.length > 7 ? "text-xl leading-8" : "text-2xl",
          tone === "bad" ? "text-red-600" : "text-ink",
        )}
        data-stat={label}
      >
        {value}
      </p>
      {detail && <p className="mt-1 truncate text-xs text-slate-500">{detail}</p>}
    </Card>
  );
}

const time = (p: MetricsPoint) => new Date(p.t);

const CHARTS: {
  title: string;
  kind: "bar" | "line" | "area";
  max?: number;
  format: (v: number) => string;
  axisFormat?: (v: number) => string;
  series: Series<MetricsPoint>[];
}[] = [
  {
    title: "Requests",
    kind: "bar",
    format: (v) => formatCount(v),
    series: [{ key: "requests", label: "Requests", color: ACCENT, value: (p) => p.requests }],
  },
  {
    title: "Cache hits and errors",
    kind: "line",
    max: 1,
    format: (v) => formatPercent(v, 0),
    series: [
      { key: "hit", label: "Cache hit rate", color: GREEN, value: (p) => p.cache_hit_rate },
      { key: "err", label: "Error rate", color: RED, value: (p) => p.error_rate },
    ],
  },
  {
    title: "Latency",
    kind: "line",
    format: (v) => formatMs(v),
    series: [
      { key: "p50", label: "p50", color: ACCENT, value: (p) => p.p50_ms },
      { key: "p95", label: "p95", color: SKY, value: (p) => p.p95_ms },
    ],
  },
  {
    title: "Cost and savings",
    kind: "area",
    format: (v) => formatUsd(v),
    axisFormat: (v) => (v === 0 ? "$0" : `$${Number(v.toPrecision(2))}`),
    series: [
      { key: "cost", label: "Cost", color: ACCENT, value: (p) => p.cost_usd },
      { key: "saved", label: "Saved by the cache", color: GREEN, value: (p) => p.saved_usd },
    ],
  },
];

function ProxyList() {
  const proxies = useProxies();
  const providers = useProviders();
  const label = (name: string) => providers.data?.find((p) => p.name === name)?.label ?? name;
  return (
    <Card>
      <CardHeader
        title="Proxies"
        actions={
          <Link to="/proxies" className="text-sm font-medium text-accent-700 hover:underline">
            View all
          </Link>
        }
      />
      {proxies.isPending ? (
        <div className="space-y-3 p-5">
          <Skeleton className="h-5" />
          <Skeleton className="h-5" />
        </div>
      ) : proxies.error ? (
        <ErrorNotice error={proxies.error} className="m-5" />
      ) : proxies.data.length === 0 ? (
        <EmptyState
          icon={<ServerIcon />}
          title="No proxies yet"
          description="A proxy stands in for one provider's API on its own port."
          action={
            <Link
              to="/proxies?new=1"
              className="inline-flex h-9 items-center rounded-md bg-accent-600 px-3.5 text-sm font-medium text-white hover:bg-accent-700"
            >
              Create a proxy
            </Link>
          }
        />
      ) : (
        <ul className="divide-y divide-slate-100">
          {proxies.data.slice(0, 8).map((proxy) => (
            <li key={proxy.id}>
              <Link to={`/proxies/${proxy.id}`} className="flex items-center gap-3 px-5 py-3 hover:bg-slate-50">
                <StatusDot status={proxy.status} />
                <span className="min-w-0 flex-1 truncate text-sm font-medium text-ink">{proxy.name}</span>
                <span className="hidden text-xs text-slate-500 sm:inline">{label(proxy.provider)}</span>
                <span className="font-mono text-xs text-slate-500">:{proxy.port}</span>
              </Link>
            </li>
          ))}
        </ul>
      )}
    </Card>
  );
}

export function DashboardPage() {
  const [window, setWindow] = useState<MetricsWindow>("1h");
  const metrics = useMetrics(window);
  const data = metrics.data;
  const totals = data?.totals;
  const span = SPAN_MS[window];
  const points = useMemo(() => (data ? fillSeries(data) : []), [data]);
  const windowLabel = window === "1h" ? "last hour" : window === "24h" ? "last 24 hours" : "last 7 days";

  return (
    <>
      <PageHeader
        title="Dashboard"
        description="Traffic through your proxies, live."
        actions={
          <Segmented
            label="Time window"
            value={window}
            onChange={setWindow}
            options={[
              { value: "1h", label: "Last hour" },
              { value: "24h", label: "Last 24 hours" },
            ]}
          />
        }
      />
      <ErrorNotice error={metrics.error} title="Could not load the statistics" className="mb-6" />
      <section aria-label="Statistics" className="grid grid-cols-2 gap-4 md:grid-cols-3 xl:grid-cols-6">
        {!data ? (
          Array.from({ length: 6 }, (_, i) => (
            <Card key={i} className="px-5 py-4">
              <Skeleton className="h-4 w-20" />
              <Skeleton className="mt-3 h-7 w-16" />
            </Card>
          ))
        ) : (
          <>
            <Stat
              label="Running proxies"
              value={formatCount(data.proxies.running)}
              detail={`${formatCount(data.proxies.stopped)} stopped`}
            />
            <Stat label="In flight" value={formatCount(data.in_flight)} detail="right now" />
            <Stat
              label="Requests / min"
              value={formatRate(totals?.rpm)}
              detail={`${formatCount(totals?.requests)} in the ${windowLabel}`}
            />
            <Stat label="Cache hit rate" value={formatPercent(totals?.cache_hit_rate)} detail="from the cache" />
            <Stat
              label="Error rate"
              value={formatPercent(totals?.error_rate)}
              detail="4xx and 5xx"
              tone={(totals?.error_rate ?? 0) > 0.05 ? "bad" : undefined}
            />
            <Stat
              label="Cost"
              value={formatUsd(totals?.cost_usd)}
              detail={<span className="text-emerald-700">{formatUsd(totals?.saved_usd)} saved</span>}
            />
          </>
        )}
      </section>

      {data && data.totals.requests === 0 ? (
        <Card className="mt-6">
          <EmptyState
            icon={<BoltIcon />}
            title={`No requests in the ${windowLabel}`}
            description="Start a proxy and point an SDK at it: requests, cache hits, errors and cost show up here as they happen."
          />
        </Card>
      ) : (
        <div className="mt-6 grid gap-6 lg:grid-cols-2">
          {CHARTS.map((chart) => (
            <Card key={chart.title} className="min-w-0">
              <CardHeader
                title={chart.title}
                description={`The ${windowLabel}`}
                actions={chart.series.length > 1 ? <Legend items={chart.series} /> : undefined}
              />
              <div className="px-3 pt-3 pb-2">
                {!data ? (
                  <Skeleton className="mx-2 mb-2 h-[180px]" />
                ) : (
                  <TimeSeriesChart
                    title={chart.title}
                    points={points}
                    time={time}
                    series={chart.series}
                    format={chart.format}
                    axisFormat={chart.axisFormat}
                    kind={chart.kind}
                    max={chart.max}
                    spanMs={span}
                  />
                )}
              </div>
            </Card>
          ))}
        </div>
      )}
      <div className="mt-6">
        <ProxyList />
      </div>
    </>
  );
}
