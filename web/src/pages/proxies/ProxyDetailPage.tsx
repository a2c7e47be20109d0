import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState, type ReactNode } from "react";
import { Link, useNavigate, useParams, useSearchParams } from "react-router";
import { api, unwrap } from "../../api/client";
import { keys, useLogs, useProviders, useProxy } from "../../api/queries";
import type { Proxy } from "../../api/types";
import { Dialog } from "../../components/Dialog";
import { arrowKeys } from "../../components/form";
import { ChevronLeftIcon, PencilIcon, TrashIcon } from "../../components/icons";
import { useToast } from "../../components/Toast";
import {
  Button,
  Card,
  CardHeader,
  cx,
  EmptyState,
  ErrorNotice,
  LoadingRows,
  Skeleton,
  StatusDot,
} from "../../components/ui";
import { formatFullTimestamp, formatMs, formatTimestamp } from "../../lib/format";
import { CacheBadge, StatusBadge } from "../logs/badges";
import { ClearCacheButton, StartStopButtons } from "./actions";
import { FailureEditor } from "./FailureEditor";
import { ProxyForm } from "./ProxyForm";
import { RecordingsTab } from "./recordings/RecordingsTab";
import { SnippetCard } from "./Snippet";

function Detail({ label, children }: { label: string; children: ReactNode }) {
  return (
    <div className="grid grid-cols-3 gap-4 px-5 py-3 text-sm">
      <dt className="text-slate-500">{label}</dt>
      <dd className="col-span-2 min-w-0 break-words text-ink">{children}</dd>
    </div>
  );
}

function RecentRequests({ proxy }: { proxy: Proxy }) {
  const logs = useLogs({ proxy_id: proxy.id, limit: 8 });
  return (
    <Card>
      <CardHeader
        title="Recent requests"
        actions={
          <Link to={`/logs?proxy_id=${proxy.id}`} className="text-sm font-medium text-accent-700 hover:underline">
            Open in logs
          </Link>
        }
      />
      {logs.isPending ? (
        <LoadingRows rows={3} />
      ) : logs.error ? (
        <ErrorNotice error={logs.error} className="m-5" />
      ) : logs.data.items.length === 0 ? (
        <EmptyState title="No requests yet" description="Requests through this proxy appear here as they happen." />
      ) : (
        <ul className="divide-y divide-slate-100">
          {logs.data.items.map((row) => (
            <li key={row.id} className="flex items-center gap-3 px-5 py-2.5 text-sm">
              <StatusBadge status={row.status} />
              <span className="min-w-0 flex-1 truncate font-mono text-[12.5px] text-slate-600">
                {row.method} {row.path}
              </span>
              <CacheBadge value={row.cache_status} />
              <span className="hidden w-16 text-right text-xs text-slate-500 tabular sm:inline">
                {formatMs(row.latency_ms)}
              </span>
              <time className="w-20 text-right text-xs text-slate-500" dateTime={row.created_at}>
                {formatTimestamp(row.created_at)}
              </time>
            </li>
          ))}
        </ul>
      )}
    </Card>
  );
}

function DeleteProxy({ proxy }: { proxy: Proxy }) {
  const [open, setOpen] = useState(false);
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const toast = useToast();
  const remove = useMutation({
    mutationFn: () => unwrap(api.DELETE("/api/proxies/{proxy_id}", { params: { path: { proxy_id: proxy.id } } })),
    onSuccess: () => {
      void queryClient.invalidateQueries({ queryKey: keys.proxies });
      toast.success(`Deleted ${proxy.name}.`);
      navigate("/proxies");
    },
  });
  return (
    <>
      <Button variant="ghost-danger" icon={<TrashIcon className="size-4" />} onClick={() => setOpen(true)}>
        Delete
      </Button>
      <Dialog
        open={open}
        onClose={() => setOpen(false)}
        size="sm"
        title={`Delete ${proxy.name}?`}
        description="The proxy stops, and its cache and settings are deleted. Its request logs stay."
        footer={
          <>
            <Button onClick={() => setOpen(false)}>Cancel</Button>
            <Button variant="danger" loading={remove.isPending} onClick={() => remove.mutate()}>
              Delete proxy
            </Button>
          </>
        }
      >
        <ErrorNotice error={remove.error} className="mb-3" />
      </Dialog>
    </>
  );
}

const TABS = [
  { id: "overview", label: "Overview" },
  { id: "recordings", label: "Recordings" },
  { id: "failure", label: "Failure simulation" },
] as const;
type TabId = (typeof TABS)[number]["id"];

export function ProxyDetailPage() {
  const id = Number(useParams().id);
  const proxy = useProxy(id);
  const providers = useProviders();
  const [params, setParams] = useSearchParams();
  const [editing, setEditing] = useState(false);
  const tab: TabId = TABS.find((item) => item.id === params.get("tab"))?.id ?? "overview";
  const back = (
    <Link
      to="/proxies"
      className="mb-4 inline-flex items-center gap-1 text-sm font-medium text-slate-500 hover:text-ink"
    >
      <ChevronLeftIcon className="size-4" /> Proxies
    </Link>
  );

  if (proxy.isPending) {
    return (
      <>
        {back}
        <Skeleton className="h-8 w-64" />
        <Skeleton className="mt-6 h-64" />
      </>
    );
  }
  if (proxy.error) {
    return (
      <>
        {back}
        <ErrorNotice error={proxy.error} title="Could not load this proxy" />
      </>
    );
  }
  const data = proxy.data;
  const provider = providers.data?.find((p) => p.name === data.provider);

  return (
    <>
      {back}
      <div className="mb-6 flex flex-wrap items-start justify-between gap-4">
        <div className="min-w-0">
          <div className="flex flex-wrap items-center gap-3">
            <h1 className="truncate text-2xl font-semibold tracking-tight">{data.name}</h1>
            <span className="rounded-full border border-slate-200 bg-white px-2.5 py-0.5" data-testid="proxy-status">
              <StatusDot status={data.status} withLabel />
            </span>
          </div>
          <p className="mt-1 text-sm text-slate-500">
            {provider?.label ?? data.provider} · port <span className="font-mono">{data.port}</span>
          </p>
        </div>
        <div className="flex flex-wrap items-center gap-2">
          <StartStopButtons proxy={data} />
          <ClearCacheButton proxy={data} />
          <Button icon={<PencilIcon className="size-3.5" />} onClick={() => setEditing(true)}>
            Edit
          </Button>
        </div>
      </div>
      {data.status === "error" && (
        <ErrorNotice
          className="mb-6"
          title="The proxy stopped with an error"
          error={data.last_error ?? "No details were recorded."}
        />
      )}

      <div
        role="tablist"
        aria-label="Proxy sections"
        className="mb-6 flex gap-6 border-b border-slate-200"
        onKeyDown={arrowKeys(
          TABS.map((item) => item.id),
          tab,
          (id) => setParams(id === "overview" ? {} : { tab: id }, { replace: true }),
        )}
      >
        {TABS.map((item) => (
          <button
            key={item.id}
            role="tab"
            type="button"
            id={`tab-${item.id}`}
            aria-selected={tab === item.id}
            tabIndex={tab === item.id ? 0 : -1}
            aria-controls={`panel-${item.id}`}
            onClick={() => setParams(item.id === "overview" ? {} : { tab: item.id }, { replace: true })}
            className={cx(
              "-mb-px border-b-2 px-0.5 pb-3 text-sm font-medium transition-colors",
              tab === item.id
                ? "border-accent-600 text-accent-700"
                : "border-transparent text-slate-500 hover:text-ink",
            )}
          >
            {item.label}
          </button>
        ))}
      </div>

      {tab === "overview" ? (
        <div id="panel-overview" role="tabpanel" aria-labelledby="tab-overview" className="grid gap-6 lg:grid-cols-3">
          <div className="lg:col-span-3">
            <SnippetCard proxy={data} provider={provider} />
          </div>
          <div className="lg:col-span-2">
            <RecentRequests proxy={data} />
          </div>
          <Card className="self-start">
            <CardHeader title="Details" />
            <dl className="divide-y divide-slate-100">
              <Detail label="Upstream">
                {data.upstream_url ?? <span className="text-slate-500">{provider?.default_upstream ?? "Default"}</span>}
              </Detail>
              <Detail label="Model">{data.model ?? <span className="text-slate-400">Not set</span>}</Detail>
              <Detail label="Tags">
                {data.tags.length ? data.tags.join(", ") : <span className="text-slate-400">None</span>}
              </Detail>
              {Object.entries(data.options).map(([key, value]) => (
                <Detail key={key} label={key.replaceAll("_", " ")}>
                  {String(value)}
                </Detail>
              ))}
              {data.description && <Detail label="Description">{data.description}</Detail>}
              <Detail label="Created">{formatFullTimestamp(data.created_at)}</Detail>
            </dl>
            <div className="flex justify-end border-t border-slate-100 px-3 py-2">
              <DeleteProxy proxy={data} />
            </div>
          </Card>
        </div>
      ) : tab === "recordings" ? (
        <div id="panel-recordings" role="tabpanel" aria-labelledby="tab-recordings">
          <RecordingsTab proxy={data} />
        </div>
      ) : (
        <div id="panel-failure" role="tabpanel" aria-labelledby="tab-failure">
          <FailureEditor proxyId={data.id} />
        </div>
      )}

      <Dialog open={editing} onClose={() => setEditing(false)} title={`Edit ${data.name}`} size="lg">
        <div className="pb-4">
          <ProxyForm proxy={data} onCancel={() => setEditing(false)} onDone={() => setEditing(false)} />
        </div>
      </Dialog>
    </>
  );
}
