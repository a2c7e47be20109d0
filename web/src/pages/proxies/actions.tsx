// Lifecycle buttons shared by the list and the detail page: start, stop, force stop, clear cache.
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { api, unwrap } from "../../api/client";
import { describeError } from "../../api/errors";
import { keys } from "../../api/queries";
import type { Proxy } from "../../api/types";
import { Dialog } from "../../components/Dialog";
import { EraserIcon, PlayIcon, StopIcon } from "../../components/icons";
import { useToast } from "../../components/Toast";
import { Button, ErrorNotice } from "../../components/ui";
import { recordingKeys } from "./recordings/api";

function useRefresh(proxy: Proxy) {
  const queryClient = useQueryClient();
  return (updated?: Proxy) => {
    if (updated) queryClient.setQueryData(keys.proxy(proxy.id), updated);
    void queryClient.invalidateQueries({ queryKey: keys.proxies });
    void queryClient.invalidateQueries({ queryKey: ["metrics"] });
  };
}

export function StartStopButtons({
  proxy,
  size = "md",
  withForce = true,
}: {
  proxy: Proxy;
  size?: "sm" | "md";
  withForce?: boolean;
}) {
  const refresh = useRefresh(proxy);
  const toast = useToast();
  const path = { params: { path: { proxy_id: proxy.id } } };
  const start = useMutation({
    mutationFn: () => unwrap(api.POST("/api/proxies/{proxy_id}/start", path)),
    onSuccess: (updated) => {
      refresh(updated);
      if (updated.status === "error")
        toast.error(`${proxy.name} could not start: ${updated.last_error ?? "unknown error"}`);
    },
    onError: (error) => toast.error(`Could not start ${proxy.name}: ${describeError(error)}`),
  });
  const stop = useMutation({
    mutationFn: (force: boolean) =>
      unwrap(api.POST("/api/proxies/{proxy_id}/stop", { params: { path: { proxy_id: proxy.id }, query: { force } } })),
    onSuccess: (updated) => refresh(updated),
    onError: (error) => toast.error(`Could not stop ${proxy.name}: ${describeError(error)}`),
  });
  const running = proxy.status === "running" || proxy.status === "starting";
  if (!running) {
    return (
      <Button
        size={size}
        variant="primary"
        icon={<PlayIcon className="size-3.5" />}
        loading={start.isPending}
        onClick={() => start.mutate()}
        aria-label={`Start ${proxy.name}`}
      >
        Start
      </Button>
    );
  }
  return (
    <div className="flex gap-2">
      <Button
        size={size}
        icon={<StopIcon className="size-3.5" />}
        loading={stop.isPending && stop.variables === false}
        disabled={stop.isPending}
        onClick={() => stop.mutate(false)}
        aria-label={`Stop ${proxy.name}`}
        title="Finish open requests, then stop"
      >
        Stop
      </Button>
      {withForce && (
        <Button
          size={size}
          variant="ghost-danger"
          loading={stop.isPending && stop.variables === true}
          disabled={stop.isPending}
          onClick={() => stop.mutate(true)}
          title="Drop open connections now"
        >
          Force stop
        </Button>
      )}
    </div>
  );
}

export function ClearCacheButton({ proxy }: { proxy: Proxy }) {
  const [open, setOpen] = useState(false);
  const [result, setResult] = useState<number | null>(null);
  const toast = useToast();
  const queryClient = useQueryClient();
  const clear = useMutation({
    mutationFn: () => unwrap(api.DELETE("/api/proxies/{proxy_id}/cache", { params: { path: { proxy_id: proxy.id } } })),
    onSuccess: ({ deleted }) => {
      setOpen(false);
      setResult(deleted);
      void queryClient.invalidateQueries({ queryKey: recordingKeys.all(proxy.id) });
      toast.success(`Cleared ${deleted} cache ${deleted === 1 ? "entry" : "entries"} from ${proxy.name}.`);
    },
  });
  return (
    <>
      <Button
        icon={<EraserIcon className="size-3.5" />}
        onClick={() => {
          clear.reset();
          setOpen(true);
        }}
      >
        Clear cache
      </Button>
      {result !== null && (
        <span className="sr-only" role="status">
          {result} cache entries cleared
        </span>
      )}
      <Dialog
        open={open}
        onClose={() => setOpen(false)}
        size="sm"
        title="Clear the cache?"
        description={`Every stored response of ${proxy.name} is deleted. The next requests go to the provider again.`}
        footer={
          <>
            <Button onClick={() => setOpen(false)}>Cancel</Button>
            <Button variant="danger" loading={clear.isPending} onClick={() => clear.mutate()}>
              Clear cache
            </Button>
          </>
        }
      >
        <ErrorNotice error={clear.error} className="mb-3" />
      </Dialog>
    </>
  );
}
