import { Fragment, useState } from "react";
import type { LogRow } from "../../api/types";
import { ChevronRightIcon } from "../../components/icons";
import { cx } from "../../components/ui";
import { formatCount, formatFullTimestamp, formatMs, formatTimestamp, formatUsd } from "../../lib/format";
import { CacheBadge, FaultBadge, StatusBadge } from "./badges";
import { ReplayMissBadge, ReplayMissDetail } from "./ReplayMiss";

function Field({ label, value, mono }: { label: string; value: React.ReactNode; mono?: boolean }) {
  return (
    <div className="min-w-0">
      <dt className="text-xs text-slate-500">{label}</dt>
      <dd className={cx("mt-0.5 break-all text-[13px] text-ink", mono && "font-mono text-[12px]")}>{value ?? "—"}</dd>
    </div>
  );
}

function Details({ row, proxyName }: { row: LogRow; proxyName: string }) {
  return (
    <dl className="grid grid-cols-2 gap-x-6 gap-y-3 sm:grid-cols-3 lg:grid-cols-6">
      <Field label="Time" value={formatFullTimestamp(row.created_at)} />
      <Field label="Proxy" value={proxyName} />
      <Field label="Client IP" value={row.client_ip} mono />
      <Field label="Operation" value={row.operation} />
      <Field label="Streamed" value={row.stream ? "Yes" : "No"} />
      <Field label="Request ID" value={row.id} mono />
      <div className="col-span-2 sm:col-span-3 lg:col-span-6">
        <Field label="Path" value={`${row.method} ${row.path}`} mono />
      </div>
      <Field label="Total latency" value={formatMs(row.latency_ms)} />
      <Field label="Upstream" value={formatMs(row.upstream_ms)} />
      <Field label="First byte" value={formatMs(row.ttfb_ms)} />
      <Field label="Input tokens" value={formatCount(row.input_tokens)} />
      <Field label="Output tokens" value={formatCount(row.output_tokens)} />
      <Field label="Cached tokens" value={formatCount(row.cached_tokens)} />
      <Field label="Cost" value={formatUsd(row.cost_usd)} />
      <Field label="Saved" value={formatUsd(row.saved_usd)} />
      <Field label="Fault" value={row.fault} />
      <div className="col-span-2 sm:col-span-3">
        <Field label="Cache key" value={row.cache_key} mono />
      </div>
      {row.error && (
        <div className="col-span-2 sm:col-span-3 lg:col-span-6">
          <Field label="Error" value={<span className="text-red-700">{row.error}</span>} />
        </div>
      )}
      <div className="col-span-2 empty:hidden sm:col-span-3 lg:col-span-6">
        <ReplayMissDetail row={row} />
      </div>
    </dl>
  );
}

export function LogTable({
  rows,
  proxyName,
  fresh,
}: {
  rows: LogRow[];
  proxyName: (id: number) => string;
  fresh: Set<number>;
}) {
  const [open, setOpen] = useState<number | null>(null);
  return (
    <div className="overflow-x-auto">
      <table className="w-full text-left text-sm" data-testid="log-table">
        <caption className="sr-only">Request logs, newest first</caption>
        <thead className="border-b border-slate-200 text-xs text-slate-500">
          <tr>
            <th scope="col" className="w-8 py-2.5 pl-3">
              <span className="sr-only">Details</span>
            </th>
            <th scope="col" className="px-3 py-2.5 font-medium">
              Time
            </th>
            <th scope="col" className="hidden px-3 py-2.5 font-medium md:table-cell">
              Proxy
            </th>
            <th scope="col" className="px-3 py-2.5 font-medium">
              Request
            </th>
            <th scope="col" className="px-3 py-2.5 font-medium">
              Status
            </th>
            <th scope="col" className="px-3 py-2.5 font-medium">
              Cache
            </th>
            <th scope="col" className="hidden px-3 py-2.5 font-medium lg:table-cell">
              Fault
            </th>
            <th scope="col" className="hidden px-3 py-2.5 text-right font-medium sm:table-cell">
              Latency
            </th>
            <th scope="col" className="hidden px-3 py-2.5 text-right font-medium 2xl:table-cell">
              Tokens
            </th>
            <th scope="col" className="hidden py-2.5 pr-5 pl-3 text-right font-medium lg:table-cell">
              Cost
            </th>
          </tr>
        </thead>
        <tbody className="divide-y divide-slate-100">
          {rows.map((row) => {
            const expanded = open === row.id;
            return (
              <Fragment key={row.id}>
                <tr
                  className={cx(
                    "cursor-pointer hover:bg-slate-50/80",
                    fresh.has(row.id) && "row-new",
                    expanded && "bg-slate-50",
                  )}
                  onClick={() => setOpen(expanded ? null : row.id)}
                  data-log-id={row.id}
                  data-cache={row.cache_status}
                  data-status={row.status}
                  data-fault={row.fault ?? ""}
                >
                  <td className="py-2.5 pl-3">
                    <button
                      type="button"
                      aria-expanded={expanded}
                      aria-label={`Details of request ${row.id}`}
                      onClick={(event) => {
                        event.stopPropagation();
                        setOpen(expanded ? null : row.id);
                      }}
                      className="rounded p-0.5 text-slate-400 hover:bg-slate-200/60 hover:text-ink"
                    >
                      <ChevronRightIcon className={cx("size-4 transition-transform", expanded && "rotate-90")} />
                    </button>
                  </td>
                  <td className="px-3 py-2.5 whitespace-nowrap text-slate-600 tabular">
                    <time dateTime={row.created_at} title={formatFullTimestamp(row.created_at)}>
                      {formatTimestamp(row.created_at)}
                    </time>
                  </td>
                  <td className="hidden max-w-40 truncate px-3 py-2.5 text-slate-700 md:table-cell">
                    {proxyName(row.proxy_id)}
                  </td>
                  <td className="max-w-[16rem] px-3 py-2 xl:max-w-xs">
                    <span
                      className="block truncate font-mono text-[12.5px] text-slate-700"
                      title={`${row.method} ${row.path}`}
                    >
                      <span className="text-slate-400">{row.method}</span> {row.path}
                    </span>
                    {(row.model || row.stream) && (
                      <span className="mt-0.5 block truncate text-xs text-slate-500">
                        {[row.model, row.stream ? "streamed" : null].filter(Boolean).join(" · ")}
                      </span>
                    )}
                  </td>
                  <td className="px-3 py-2.5">
                    <StatusBadge status={row.status} />
                  </td>
                  <td className="px-3 py-2.5">
                    <span className="inline-flex gap-1.5">
                      <CacheBadge value={row.cache_status} />
                      <ReplayMissBadge error={row.error} />
                    </span>
                  </td>
                  <td className="hidden px-3 py-2.5 lg:table-cell">
                    <FaultBadge value={row.fault} />
                  </td>
                  <td className="hidden px-3 py-2.5 text-right whitespace-nowrap text-slate-600 tabular sm:table-cell">
                    {formatMs(row.latency_ms)}
                  </td>
                  <td className="hidden px-3 py-2.5 text-right whitespace-nowrap text-slate-600 tabular 2xl:table-cell">
                    {row.input_tokens === null && row.output_tokens === null
                      ? "—"
                      : `${formatCount(row.input_tokens)} / ${formatCount(row.output_tokens)}`}
                  </td>
                  <td className="hidden py-2.5 pr-5 pl-3 text-right whitespace-nowrap text-slate-600 tabular lg:table-cell">
                    {formatUsd(row.cost_usd)}
                  </td>
                </tr>
                {expanded && (
                  <tr className="bg-slate-50">
                    <td colSpan={10} className="px-5 py-4 sm:pl-12">
                      <Details row={row} proxyName={proxyName(row.proxy_id)} />
                    </td>
                  </tr>
                )}
              </Fragment>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
