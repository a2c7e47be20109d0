import { useNavigate, useSearchParams, Link } from "react-router";
import { useProviders, useProxies } from "../../api/queries";
import { Dialog } from "../../components/Dialog";
import { PlusIcon, ServerIcon } from "../../components/icons";
import {
  Button,
  Card,
  EmptyState,
  ErrorNotice,
  LoadingRows,
  PageHeader,
  StatusDot,
  statusLabel,
} from "../../components/ui";
import { StartStopButtons } from "./actions";
import { ProxyForm } from "./ProxyForm";

export function ProxiesPage() {
  const proxies = useProxies();
  const providers = useProviders();
  const [params, setParams] = useSearchParams();
  const navigate = useNavigate();
  const creating = params.get("new") === "1";
  const setCreating = (open: boolean) => setParams(open ? { new: "1" } : {}, { replace: true });
  const label = (name: string) => providers.data?.find((p) => p.name === name)?.label ?? name;
  const newButton = (
    <Button variant="primary" icon={<PlusIcon className="size-4" />} onClick={() => setCreating(true)}>
      New proxy
    </Button>
  );

  return (
    <>
      <PageHeader
        title="Proxies"
        description="Each proxy speaks one provider's API on its own port, with a cache in front."
        actions={newButton}
      />
      <Card>
        {proxies.isPending ? (
          <LoadingRows label="Loading proxies" />
        ) : proxies.error ? (
          <ErrorNotice error={proxies.error} title="Could not load your proxies" className="m-5" />
        ) : proxies.data.length === 0 ? (
          <EmptyState
            icon={<ServerIcon />}
            title="No proxies yet"
            description="Create one, start it, and point your SDK's base URL at its port."
            action={newButton}
          />
        ) : (
          <div className="overflow-x-auto">
            <table className="w-full text-left text-sm">
              <caption className="sr-only">Your proxies</caption>
              <thead className="border-b border-slate-200 text-xs font-medium text-slate-500">
                <tr>
                  <th scope="col" className="py-3 pr-3 pl-5 font-medium">
                    Name
                  </th>
                  <th scope="col" className="hidden px-3 py-3 font-medium md:table-cell">
                    Provider
                  </th>
                  <th scope="col" className="px-3 py-3 font-medium">
                    Port
                  </th>
                  <th scope="col" className="hidden px-3 py-3 font-medium lg:table-cell">
                    Upstream
                  </th>
                  <th scope="col" className="hidden px-3 py-3 font-medium sm:table-cell">
                    Status
                  </th>
                  <th scope="col" className="py-3 pr-5 pl-3 text-right font-medium">
                    <span className="sr-only">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody className="divide-y divide-slate-100">
                {proxies.data.map((proxy) => (
                  <tr
                    key={proxy.id}
                    className="group cursor-pointer hover:bg-slate-50/80"
                    onClick={(event) => {
                      if (!(event.target as HTMLElement).closest("button,a")) navigate(`/proxies/${proxy.id}`);
                    }}
                  >
                    <td className="py-3 pr-3 pl-5">
                      <div className="flex items-center gap-3">
                        <StatusDot status={proxy.status} />
                        <div className="min-w-0">
                          <Link to={`/proxies/${proxy.id}`} className="font-medium text-ink hover:text-accent-700">
                            {proxy.name}
                          </Link>
                          <p className="truncate text-xs text-slate-500 md:hidden">{label(proxy.provider)}</p>
                          {proxy.status === "error" && proxy.last_error && (
                            <p className="mt-0.5 max-w-md truncate text-xs text-red-600" title={proxy.last_error}>
                              {proxy.last_error}
                            </p>
                          )}
                        </div>
                      </div>
                    </td>
                    <td className="hidden px-3 py-3 text-slate-600 md:table-cell">{label(proxy.provider)}</td>
                    <td className="px-3 py-3 font-mono text-[13px] text-slate-600">{proxy.port}</td>
                    <td className="hidden max-w-xs truncate px-3 py-3 text-slate-500 lg:table-cell">
                      {proxy.upstream_url ?? <span className="text-slate-400">Default</span>}
                    </td>
                    <td className="hidden px-3 py-3 sm:table-cell">
                      <span className={proxy.status === "error" ? "font-medium text-red-600" : "text-slate-600"}>
                        {statusLabel(proxy.status)}
                      </span>
                    </td>
                    <td className="py-3 pr-5 pl-3">
                      <div className="flex justify-end">
                        <StartStopButtons proxy={proxy} size="sm" withForce={false} />
                      </div>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Card>
      <Dialog
        open={creating}
        onClose={() => setCreating(false)}
        title="New proxy"
        description="It starts stopped; start it when you are ready."
        size="lg"
      >
        <div className="pb-4">
          <ProxyForm onCancel={() => setCreating(false)} onDone={(proxy) => navigate(`/proxies/${proxy.id}`)} />
        </div>
      </Dialog>
    </>
  );
}
