// The proxy's cache settings: mode, repeats, timing, TTL and ignored paths. Saved with a PATCH of the
// proxy's `cache`; the running proxy picks it up without a restart.
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useEffect, useState, type FormEvent, type ReactNode } from "react";
import { describeError, fieldErrors } from "../../../api/errors";
import { keys } from "../../../api/queries";
import type { Proxy } from "../../../api/types";
import { arrowKeys, Segmented, TextAreaField, TextField } from "../../../components/form";
import { useToast } from "../../../components/Toast";
import { Button, Card, CardHeader, cx, ErrorNotice } from "../../../components/ui";
import { cacheOf, rewind, saveCache } from "./api";
import {
  cacheFieldErrors,
  fromCacheForm,
  ignoreLines,
  MODES,
  REPEATS,
  TIMINGS,
  toCacheForm,
  type CacheForm,
} from "./cacheForm";
import type { CacheConfig, CacheMode } from "./types";

function ModeSwitch({
  value,
  onChange,
  error,
}: {
  value: CacheMode;
  onChange: (mode: CacheMode) => void;
  error?: string;
}) {
  return (
    <div className="space-y-1.5">
      <p className="text-sm font-medium text-slate-800">Mode</p>
      <div
        role="radiogroup"
        aria-label="Cache mode"
        className="grid gap-2 sm:grid-cols-2 xl:grid-cols-4"
        onKeyDown={arrowKeys(
          MODES.map((mode) => mode.value),
          value,
          onChange,
        )}
      >
        {MODES.map((mode) => (
          <button
            key={mode.value}
            type="button"
            role="radio"
            aria-checked={value === mode.value}
            tabIndex={value === mode.value ? 0 : -1}
            onClick={() => onChange(mode.value)}
            className={cx(
              "rounded-lg border px-3.5 py-3 text-left transition-colors",
              value === mode.value
                ? "border-accent-500 bg-accent-50/60 ring-1 ring-accent-500"
                : "border-slate-200 hover:border-slate-300 hover:bg-slate-50",
            )}
          >
            <span className="block text-sm font-medium text-ink">{mode.label}</span>
            <span className="mt-0.5 block text-xs text-slate-500">{mode.description}</span>
          </button>
        ))}
      </div>
      {error && <p className="text-xs font-medium text-red-600">{error}</p>}
    </div>
  );
}

function Choice({
  label,
  hint,
  error,
  children,
}: {
  label: string;
  hint: string;
  error?: string;
  children: ReactNode;
}) {
  return (
    <div className="space-y-1.5">
      <p className="text-sm font-medium text-slate-800">{label}</p>
      {children}
      {error ? (
        <p className="text-xs font-medium text-red-600">{error}</p>
      ) : (
        <p className="text-xs text-slate-500">{hint}</p>
      )}
    </div>
  );
}

function RewindButton({ proxyId }: { proxyId: number }) {
  const toast = useToast();
  const mutation = useMutation({
    mutationFn: () => rewind(proxyId),
    onSuccess: () => toast.success("Sequences rewound: the next identical request replays occurrence 1 again."),
    onError: (error) => toast.error(`Could not rewind: ${describeError(error)}`),
  });
  return (
    <Button size="sm" loading={mutation.isPending} onClick={() => mutation.mutate()}>
      Rewind sequences
    </Button>
  );
}

export function CacheSettings({ proxy }: { proxy: Proxy }) {
  const saved = cacheOf(proxy);
  const savedKey = JSON.stringify(saved);
  const queryClient = useQueryClient();
  const toast = useToast();
  const [form, setForm] = useState<CacheForm>(() => toCacheForm(saved));
  const [touched, setTouched] = useState(false);
  // A refetch with the same config keeps what is being typed; a changed config replaces it.
  useEffect(() => setForm(toCacheForm(JSON.parse(savedKey) as CacheConfig)), [savedKey]);

  const save = useMutation({
    mutationFn: (config: CacheConfig) => saveCache(proxy.id, config),
    onSuccess: (updated) => {
      queryClient.setQueryData(keys.proxy(proxy.id), updated);
      void queryClient.invalidateQueries({ queryKey: keys.proxies });
      setTouched(false);
      toast.success(`Cache settings saved: ${cacheOf(updated).mode} mode.`);
    },
  });

  const { config, errors: local } = fromCacheForm(form);
  const server = cacheFieldErrors(fieldErrors(save.error), ignoreLines(form.ignore));
  const error = (field: string) => (touched ? local[field] : undefined) ?? server[field];
  const shown = new Set(["mode", "repeats", "timing", "ttl_seconds", "ignore"]);
  const unshown = save.error && !Object.keys(server).some((field) => shown.has(field));
  const dirty = JSON.stringify(config) !== savedKey;
  const set = <K extends keyof CacheForm>(key: K, value: CacheForm[K]) => setForm((f) => ({ ...f, [key]: value }));

  function submit(event: FormEvent) {
    event.preventDefault();
    setTouched(true);
    if (Object.keys(local).length === 0) save.mutate(config);
  }

  return (
    <Card>
      <CardHeader
        title="Cache settings"
        description="How this proxy records and replays answers. Changes apply to the running proxy at once."
        actions={<RewindButton proxyId={proxy.id} />}
      />
      <form onSubmit={submit} noValidate aria-label="Cache settings" className="space-y-5 p-5">
        <ModeSwitch value={form.mode} onChange={(mode) => set("mode", mode)} error={error("mode")} />
        <div className="grid gap-5 lg:grid-cols-3">
          <Choice
            label="Repeated requests"
            hint="In sequence: the Nth identical request gets the Nth recorded answer."
            error={error("repeats")}
          >
            <Segmented
              label="Repeated requests"
              value={form.repeats}
              options={REPEATS}
              onChange={(v) => set("repeats", v)}
            />
          </Choice>
          <Choice
            label="Timing"
            hint="As recorded: replays wait for each chunk's recorded offset."
            error={error("timing")}
          >
            <Segmented label="Timing" value={form.timing} options={TIMINGS} onChange={(v) => set("timing", v)} />
          </Choice>
          <TextField
            label="Keep entries for"
            suffix="s"
            inputMode="numeric"
            placeholder="Forever"
            optional
            value={form.ttl}
            onChange={(event) => set("ttl", event.target.value)}
            error={error("ttl_seconds")}
            hint="Empty: keep forever. The provider's max-age wins when shorter."
          />
        </div>
        <TextAreaField
          label="Ignored paths"
          optional
          rows={4}
          placeholder={"metadata.request_id\nmessages[*].timestamp\nuser"}
          value={form.ignore}
          onChange={(event) => set("ignore", event.target.value)}
          error={error("ignore")}
          hint="JSON paths left out of the cache key, one per line: for fields that change on every run."
        />
        {server[""] && <ErrorNotice error={server[""]} />}
        {unshown && !server[""] && <ErrorNotice error={save.error} />}
        <div className="flex items-center justify-end gap-3">
          {dirty && !save.isPending && <span className="text-sm text-slate-500">Unsaved changes</span>}
          <Button type="submit" variant="primary" loading={save.isPending}>
            Save cache settings
          </Button>
        </div>
      </form>
    </Card>
  );
}
