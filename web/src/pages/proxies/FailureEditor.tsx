// Every field of a proxy's failure config. The whole config is saved at once; it applies to the
// running proxy immediately.
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useEffect, useState, type FormEvent, type ReactNode } from "react";
import { api, unwrap } from "../../api/client";
import { fieldErrors } from "../../api/errors";
import { keys, useFailure } from "../../api/queries";
import type { FailureConfig } from "../../api/types";
import { Segmented, SelectField, Switch, TextAreaField, TextField } from "../../components/form";
import { PlusIcon, TrashIcon } from "../../components/icons";
import { useToast } from "../../components/Toast";
import { Badge, Button, Card, CardHeader, ErrorNotice, LoadingRows } from "../../components/ui";
import {
  EMPTY_FORM,
  fromForm,
  RETRY_AFTER_STATUSES,
  STATUSES,
  summarise,
  toForm,
  type FailureForm,
} from "./failureModel";

function Section({ title, description, children }: { title: string; description: string; children: ReactNode }) {
  return (
    <Card>
      <CardHeader title={title} description={description} />
      <div className="space-y-5 p-5">{children}</div>
    </Card>
  );
}

export function FailureEditor({ proxyId }: { proxyId: number }) {
  const failure = useFailure(proxyId);
  if (failure.isPending)
    return (
      <Card>
        <LoadingRows label="Loading the failure settings" />
      </Card>
    );
  if (failure.error) return <ErrorNotice error={failure.error} title="Could not load the failure settings" />;
  return <FailureEditorForm proxyId={proxyId} saved={failure.data} />;
}

function FailureEditorForm({ proxyId, saved }: { proxyId: number; saved: FailureConfig }) {
  const queryClient = useQueryClient();
  const toast = useToast();
  const [form, setForm] = useState<FailureForm>(() => toForm(saved));
  const [touched, setTouched] = useState(false);
  useEffect(() => setForm(toForm(saved)), [saved]);

  const save = useMutation({
    mutationFn: (config: FailureConfig) =>
      unwrap(api.PUT("/api/proxies/{proxy_id}/failure", { params: { path: { proxy_id: proxyId } }, body: config })),
    onSuccess: (config) => {
      queryClient.setQueryData(keys.failure(proxyId), config);
      const active = summarise(config);
      toast.success(active.length ? `Failure simulation saved: ${active.join(", ")}.` : "Failure simulation is off.");
      setTouched(false);
    },
  });

  const { config, errors: local } = fromForm(form);
  const server = fieldErrors(save.error);
  const error = (key: string) => (touched ? local[key] : undefined) ?? server[key];
  const dirty = JSON.stringify(fromForm(toForm(saved)).config) !== JSON.stringify(config);
  const set = <K extends keyof FailureForm>(key: K, value: FailureForm[K]) => setForm((f) => ({ ...f, [key]: value }));
  const input = (key: keyof FailureForm) => ({
    value: form[key] as string,
    onChange: (event: { target: { value: string } }) => set(key, event.target.value as never),
  });
  const active = summarise(saved);
  const used = new Set(form.errors.map((row) => row.status));
  const nextStatus = STATUSES.find((s) => !used.has(s.status))?.status;
  const totalPercent = config.errors?.reduce((sum, row) => sum + row.rate * 100, 0) ?? 0;

  function submit(event: FormEvent) {
    event.preventDefault();
    setTouched(true);
    if (Object.keys(local).length === 0) save.mutate(config);
  }

  return (
    <form onSubmit={submit} noValidate aria-label="Failure simulation" className="space-y-6">
      <div className="flex flex-wrap items-center gap-2 text-sm text-slate-600">
        <span className="font-medium text-ink">Now active:</span>
        {active.length ? (
          active.map((part) => (
            <Badge key={part} tone="amber">
              {part}
            </Badge>
          ))
        ) : (
          <span>nothing; requests pass untouched.</span>
        )}
      </div>

      <Section
        title="Injected errors"
        description="Answer a share of requests with an error in the provider's own format, before the cache."
      >
        {form.errors.length === 0 && <p className="text-sm text-slate-500">No errors are injected.</p>}
        {form.errors.map((row, index) => (
          <fieldset
            key={index}
            className="grid items-start gap-3 rounded-lg border border-slate-200 p-3 sm:grid-cols-[1fr_8rem_9rem_auto] sm:border-0 sm:p-0"
          >
            <legend className="sr-only">Error {index + 1}</legend>
            <SelectField
              label="Status"
              value={row.status}
              error={error(`errors.${index}.status`)}
              onChange={(event) =>
                set(
                  "errors",
                  form.errors.map((r, i) =>
                    i === index ? { ...r, status: Number(event.target.value) as typeof r.status } : r,
                  ),
                )
              }
            >
              {STATUSES.map((s) => (
                <option key={s.status} value={s.status}>
                  {s.status} {s.label}
                </option>
              ))}
            </SelectField>
            <TextField
              label="Chance"
              suffix="%"
              inputMode="decimal"
              value={row.percent}
              error={error(`errors.${index}.rate`)}
              onChange={(event) =>
                set(
                  "errors",
                  form.errors.map((r, i) => (i === index ? { ...r, percent: event.target.value } : r)),
                )
              }
            />
            <TextField
              label="Retry-After"
              suffix="s"
              inputMode="decimal"
              placeholder={RETRY_AFTER_STATUSES.includes(row.status) ? "Default" : "—"}
              disabled={!RETRY_AFTER_STATUSES.includes(row.status)}
              value={RETRY_AFTER_STATUSES.includes(row.status) ? row.retryAfter : ""}
              error={error(`errors.${index}.retry_after_s`)}
              onChange={(event) =>
                set(
                  "errors",
                  form.errors.map((r, i) => (i === index ? { ...r, retryAfter: event.target.value } : r)),
                )
              }
            />
            <Button
              variant="ghost"
              className="sm:mt-6.5"
              icon={<TrashIcon className="size-4" />}
              aria-label={`Remove the ${row.status} error`}
              onClick={() =>
                set(
                  "errors",
                  form.errors.filter((_, i) => i !== index),
                )
              }
            />
          </fieldset>
        ))}
        {error("errors") && (
          <p className="text-sm font-medium text-red-600" role="alert">
            {error("errors")}
          </p>
        )}
        <div className="flex flex-wrap items-center justify-between gap-3">
          <Button
            size="sm"
            icon={<PlusIcon className="size-3.5" />}
            disabled={nextStatus === undefined}
            onClick={() =>
              nextStatus !== undefined &&
              set("errors", [...form.errors, { status: nextStatus, percent: "10", retryAfter: "" }])
            }
          >
            Add an error
          </Button>
          {form.errors.length > 0 && (
            <span className="text-xs text-slate-500 tabular">
              {Math.round(totalPercent * 10) / 10}% of requests fail
            </span>
          )}
        </div>
      </Section>

      <div className="grid gap-6 lg:grid-cols-2">
        <Section title="Timeouts" description="Hold a share of requests: for a while, or until the client gives up.">
          <TextField
            label="Chance"
            suffix="%"
            inputMode="decimal"
            {...input("timeoutPercent")}
            error={error("timeout.rate")}
          />
          <div className="space-y-1.5">
            <p className="text-sm font-medium text-slate-800" id="timeout-mode">
              Mode
            </p>
            <Segmented
              label="Timeout mode"
              value={form.timeoutMode}
              onChange={(value) => set("timeoutMode", value)}
              options={[
                { value: "delay", label: "Delay, then answer" },
                { value: "hang", label: "Hang forever" },
              ]}
            />
          </div>
          <TextField
            label="Delay"
            suffix="ms"
            inputMode="numeric"
            {...input("timeoutDelayMs")}
            error={error("timeout.delay_ms")}
            disabled={form.timeoutMode === "hang"}
            hint="How long a delayed request waits before it goes on."
          />
        </Section>

        <Section title="Latency" description="Slow every request down before it reaches the cache or the provider.">
          <TextField
            label="Added latency"
            suffix="ms"
            inputMode="numeric"
            {...input("latencyMs")}
            error={error("latency.ms")}
          />
          <TextField
            label="Jitter"
            suffix="ms"
            inputMode="numeric"
            {...input("jitterMs")}
            error={error("latency.jitter_ms")}
            hint="Each request gets the latency plus or minus up to this much."
          />
        </Section>

        <Section title="Streams" description="Break streamed answers: cut them short, or slow each chunk.">
          <TextField
            label="Truncate chance"
            suffix="%"
            inputMode="decimal"
            {...input("truncatePercent")}
            error={error("stream.truncate_rate")}
          />
          <TextField
            label="Truncate after"
            suffix="chunks"
            inputMode="numeric"
            {...input("truncateAfterChunks")}
            error={error("stream.truncate_after_chunks")}
          />
          <TextField
            label="Delay between chunks"
            suffix="ms"
            inputMode="numeric"
            {...input("chunkDelayMs")}
            error={error("stream.chunk_delay_ms")}
          />
        </Section>

        <Section title="Rate limit" description="Answer 429 once a client goes over the limit in a sliding minute.">
          <TextField
            label="Requests per minute"
            inputMode="numeric"
            placeholder="No limit"
            {...input("rpm")}
            error={error("rate_limit.rpm")}
            optional
          />
          <TextField
            label="Tokens per minute"
            inputMode="numeric"
            placeholder="No limit"
            {...input("tpm")}
            error={error("rate_limit.tpm")}
            optional
            hint="Estimated from the request size."
          />
        </Section>

        <Section
          title="IP filter"
          description="Addresses or CIDR ranges, one per line. The server-wide lists apply too."
        >
          <TextAreaField
            label="Allow only"
            placeholder={"127.0.0.1\n10.0.0.0/8"}
            {...input("ipAllow")}
            error={error("ip_allow")}
            optional
            hint="Empty: every address may connect."
          />
          <TextAreaField
            label="Block"
            placeholder="192.168.1.23"
            {...input("ipBlock")}
            error={error("ip_block")}
            optional
          />
        </Section>

        <Section title="Advanced" description="Reproducible dice, and faults a test can ask for per request.">
          <TextField
            label="Seed"
            inputMode="numeric"
            placeholder="Random"
            {...input("seed")}
            error={error("seed")}
            optional
            hint="The same seed and the same requests give the same faults."
          />
          <Switch
            label="Allow header faults"
            description="A request with x-rubberduck-fault: 429, timeout or truncate gets that fault, whatever the chances say."
            checked={form.allowHeaderFaults}
            onChange={(value) => set("allowHeaderFaults", value)}
          />
        </Section>
      </div>

      <div className="sticky bottom-0 z-10 -mx-4 flex flex-wrap items-center justify-end gap-3 border-t border-slate-200 bg-slate-50/95 px-4 py-4 backdrop-blur sm:-mx-6 sm:px-6 lg:-mx-10 lg:px-10">
        <ErrorNotice error={Object.keys(server).length ? null : save.error} className="mr-auto" />
        {Object.keys(server).length > 0 && (
          <p className="mr-auto text-sm font-medium text-red-600">Fix the fields marked in red.</p>
        )}
        {dirty && !save.isPending && <span className="text-sm text-slate-500">Unsaved changes</span>}
        <Button
          onClick={() => {
            setTouched(false);
            save.reset();
            setForm(EMPTY_FORM);
          }}
        >
          Turn everything off
        </Button>
        <Button type="submit" variant="primary" loading={save.isPending}>
          Save failure settings
        </Button>
      </div>
    </form>
  );
}
