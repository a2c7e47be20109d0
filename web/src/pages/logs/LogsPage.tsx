import { useEffect, useMemo, useState } from "react";
import { useSearchParams } from "react-router";
import { authorisedFetch, queryString } from "../../api/client";
import { describeError } from "../../api/errors";
import { useLogs, useProxies } from "../../api/queries";
import { SelectField, Switch, TextField } from "../../components/form";
import { ChevronLeftIcon, ChevronRightIcon, DownloadIcon, ListIcon, TrashIcon } from "../../components/icons";
import { useToast } from "../../components/Toast";
import { Button, Card, EmptyState, ErrorNotice, LoadingRows, PageHeader, cx } from "../../components/ui";
import { STATUSES } from "../proxies/failureModel";
import { isFiltered, RANGES, readFilters, toQuery, writeFilters, type LogFilters } from "./filters";
import { LogTable } from "./LogTable";
import { PurgeDialog } from "./PurgeDialog";
import { mergeRows, useLiveLogs } from "./useLiveLogs";

const PAGE_SIZE = 50;
const FAULTS = [
  ...STATUSES.map((s) => ({ value: `error_${s.status}`, label: `Error ${s.status}` })),
  { value: "timeout_delay", label: "Timeout (delay)" },
  { value: "timeout_hang", label: "Timeout (hang)" },
  { value: "rate_limit", label: "Rate limit" },
  { value: "ip_blocked", label: "IP blocked" },
];

async function download(format: "csv" | "json", query: Record<string, string | number | null | undefined>) {
  const response = await authorisedFetch(`/api/logs/export${queryString({ ...query, format })}`);
  const blob = await response.blob();
  const named = /filename="?([^";]+)"?/.exec(response.headers.get("Content-Disposition") ?? "")?.[1];
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = named ?? `rubberduck-logs-${new Date().toISOString().slice(0, 19).replaceAll(":", "-")}.${format}`;
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
}

function LiveIndicator({ state }: { state: string }) {
  const label =
    {
      live: "Live",
      connecting: "Connecting…",
      reconnecting: "Reconnecting…",
      error: "Live unavailable",
      off: "Paused",
    }[state] ?? state;
  return (
    <span
      className="inline-flex items-center gap-2 text-xs font-medium text-slate-600"
      role="status"
      data-live-state={state}
    >
      <span
        className={cx(
          "size-2 rounded-full",
          state === "live"
            ? "animate-pulse bg-emerald-500"
            : state === "error"
              ? "bg-red-500"
              : state === "off"
                ? "bg-slate-300"
                : "bg-amber-400",
        )}
      />
      {label}
    </span>
  );
}

export function LogsPage() {
  const [params, setParams] = useSearchParams();
  const filters = readFilters(params);
  const [model, setModel] = useState(filters.model);
  const [cursors, setCursors] = useState<(string | undefined)[]>([undefined]);
  const [liveWanted, setLiveWanted] = useState(true);
  const [purging, setPurging] = useState(false);
  const [exporting, setExporting] = useState<"csv" | "json" | null>(null);
  const toast = useToast();
  const proxies = useProxies();

  // Relative ranges ("last hour") are re-anchored whenever the filters change, not on every render.
  const filterKey = params.toString();
  const baseQuery = useMemo(() => toQuery(filters), [filterKey]);
  const page = cursors.length - 1;
  const cursor = cursors[page];
  const live = liveWanted && page === 0 && filters.range !== "custom";
  const stream = useLiveLogs(baseQuery, live);
  const logs = useLogs({ ...baseQuery, limit: PAGE_SIZE, ...(cursor ? { cursor } : {}) });

  useEffect(() => setCursors([undefined]), [filterKey]);
  useEffect(() => setModel(filters.model), [filters.model]);
  useEffect(() => {
    // Typing in the model box filters after a pause, not on every key.
    if (model === filters.model) return;
    const timer = setTimeout(() => update({ model }), 400);
    return () => clearTimeout(timer);
  }, [model]);

  function update(change: Partial<LogFilters>) {
    setParams(writeFilters({ ...filters, ...change }), { replace: true });
  }

  const rows = useMemo(
    () => mergeRows(live ? stream.rows : [], logs.data?.items ?? []),
    [live, stream.rows, logs.data],
  );
  const names = new Map(proxies.data?.map((p) => [p.id, p.name]));
  const proxyName = (id: number) => names.get(id) ?? `#${id}`;

  async function exportAs(format: "csv" | "json") {
    setExporting(format);
    try {
      await download(format, { ...baseQuery });
    } catch (error) {
      toast.error(`The export failed: ${describeError(error)}`);
    } finally {
      setExporting(null);
    }
  }

  return (
    <>
      <PageHeader
        title="Logs"
        description="Every request through your proxies, newest first. Prompts and keys are never stored."
        actions={
          <>
            <Button
              icon={<DownloadIcon className="size-4" />}
              loading={exporting === "csv"}
              onClick={() => void exportAs("csv")}
            >
              Export CSV
            </Button>
            <Button
              icon={<DownloadIcon className="size-4" />}
              loading={exporting === "json"}
              onClick={() => void exportAs("json")}
            >
              Export JSON
            </Button>
            <Button variant="ghost-danger" icon={<TrashIcon className="size-4" />} onClick={() => setPurging(true)}>
              Purge…
            </Button>
          </>
        }
      />

      <Card className="mb-4">
        <form
          role="search"
          aria-label="Filter logs"
          onSubmit={(e) => e.preventDefault()}
          className="grid grid-cols-2 gap-3 p-4 sm:grid-cols-3 lg:grid-cols-6"
        >
          <SelectField label="Proxy" value={filters.proxy_id} onChange={(e) => update({ proxy_id: e.target.value })}>
            <option value="">All proxies</option>
            {proxies.data?.map((p) => (
              <option key={p.id} value={p.id}>
                {p.name}
              </option>
            ))}
          </SelectField>
          <SelectField label="Status" value={filters.status} onChange={(e) => update({ status: e.target.value })}>
            <option value="">Any status</option>
            <option value="2xx">2xx Success</option>
            <option value="4xx">4xx Client error</option>
            <option value="5xx">5xx Server error</option>
            <option value="429">429 Rate limited</option>
          </SelectField>
          <SelectField
            label="Cache"
            value={filters.cache_status}
            onChange={(e) => update({ cache_status: e.target.value })}
          >
            <option value="">Any</option>
            <option value="hit">Hit</option>
            <option value="miss">Miss</option>
            <option value="bypass">Bypass</option>
          </SelectField>
          <SelectField label="Fault" value={filters.fault} onChange={(e) => update({ fault: e.target.value })}>
            <option value="">Any</option>
            {FAULTS.map((f) => (
              <option key={f.value} value={f.value}>
                {f.label}
              </option>
            ))}
          </SelectField>
          <TextField label="Model" value={model} onChange={(e) => setModel(e.target.value)} placeholder="Any model" />
          <SelectField label="Time" value={filters.range} onChange={(e) => update({ range: e.target.value })}>
            {RANGES.map((r) => (
              <option key={r.value} value={r.value}>
                {r.label}
              </option>
            ))}
          </SelectField>
          {filters.range === "custom" && (
            <>
              <TextField
                label="From"
                type="datetime-local"
                value={filters.since}
                onChange={(e) => update({ since: e.target.value })}
              />
              <TextField
                label="To"
                type="datetime-local"
                value={filters.until}
                onChange={(e) => update({ until: e.target.value })}
              />
            </>
          )}
        </form>
        <div className="flex flex-wrap items-center justify-between gap-3 border-t border-slate-100 px-4 py-2.5">
          <div className="flex items-center gap-4">
            <div className="w-40">
              <Switch
                label="Live updates"
                checked={liveWanted}
                onChange={setLiveWanted}
                disabled={filters.range === "custom"}
              />
            </div>
            <LiveIndicator state={live ? stream.state : "off"} />
          </div>
          {isFiltered(filters) && (
            <Button size="sm" variant="ghost" onClick={() => setParams({}, { replace: true })}>
              Clear filters
            </Button>
          )}
        </div>
      </Card>

      {live && stream.state === "error" && (
        <ErrorNotice className="mb-4" title="Live updates stopped" error={stream.error} />
      )}

      <Card>
        {logs.isPending ? (
          <LoadingRows rows={6} label="Loading logs" />
        ) : logs.error ? (
          <ErrorNotice error={logs.error} title="Could not load the logs" className="m-5" />
        ) : rows.length === 0 ? (
          <EmptyState
            icon={<ListIcon />}
            title={isFiltered(filters) ? "No requests match these filters" : "No requests yet"}
            description={
              isFiltered(filters)
                ? "Try a wider time range or fewer filters."
                : "Send a request through a running proxy; it appears here at once."
            }
          />
        ) : (
          <LogTable rows={rows} proxyName={proxyName} fresh={stream.fresh} />
        )}
        <nav
          aria-label="Pages"
          className="flex items-center justify-between border-t border-slate-100 px-4 py-3 text-sm text-slate-500"
        >
          <span>
            {page === 0 ? "Newest" : `Page ${page + 1}`}
            {logs.isFetching && !logs.isPending && <span className="ml-2 text-slate-400">Refreshing…</span>}
          </span>
          <div className="flex gap-2">
            <Button
              size="sm"
              icon={<ChevronLeftIcon className="size-4" />}
              disabled={page === 0}
              onClick={() => setCursors((c) => c.slice(0, -1))}
            >
              Newer
            </Button>
            <Button
              size="sm"
              disabled={!logs.data?.next_cursor}
              onClick={() => logs.data?.next_cursor && setCursors((c) => [...c, logs.data.next_cursor ?? undefined])}
            >
              Older <ChevronRightIcon className="size-4" />
            </Button>
          </div>
        </nav>
      </Card>
      <PurgeDialog open={purging} onClose={() => setPurging(false)} />
    </>
  );
}
