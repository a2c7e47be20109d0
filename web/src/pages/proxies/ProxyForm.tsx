// Create and edit a proxy. Checks what it can before sending; the server's own field errors land on
// the same fields.
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { api, unwrap } from "../../api/client";
import { fieldErrors } from "../../api/errors";
import { keys, useProviders } from "../../api/queries";
import type { Provider, Proxy, ProxyCreate } from "../../api/types";
import { SelectField, TextAreaField, TextField } from "../../components/form";
import { Button, ErrorNotice, Skeleton } from "../../components/ui";

interface Values {
  name: string;
  provider: string;
  model: string;
  port: string;
  upstream_url: string;
  description: string;
  tags: string;
  options: Record<string, string>;
}

const OPTION_LABELS: Record<string, { label: string; hint: string; numeric?: boolean }> = {
  upstream_timeout_seconds: {
    label: "Upstream timeout",
    hint: "Seconds to wait for the provider. Empty: the server default.",
    numeric: true,
  },
  aws_profile: { label: "AWS profile", hint: "The named profile Rubberduck signs requests with." },
  aws_region: { label: "AWS region", hint: "For example us-east-1." },
};

function initialValues(proxy: Proxy | undefined, providers: Provider[]): Values {
  return {
    name: proxy?.name ?? "",
    provider: proxy?.provider ?? providers[0]?.name ?? "",
    model: proxy?.model ?? "",
    port: proxy ? String(proxy.port) : "",
    upstream_url: proxy?.upstream_url ?? "",
    description: proxy?.description ?? "",
    tags: proxy?.tags.join(", ") ?? "",
    options: Object.fromEntries(Object.entries(proxy?.options ?? {}).map(([k, v]) => [k, v === null ? "" : String(v)])),
  };
}

export function validateProxy(values: Values, provider: Provider | undefined): Record<string, string> {
  const errors: Record<string, string> = {};
  if (!values.name.trim()) errors.name = "Give the proxy a name.";
  if (!provider) errors.provider = "Choose a provider.";
  if (values.port.trim()) {
    const port = Number(values.port);
    if (!Number.isInteger(port) || port < 1024 || port > 65535)
      errors.port = "A port is a whole number from 1024 to 65535.";
  }
  const url = values.upstream_url.trim();
  if (url && !/^https?:\/\/[^/\s]+/.test(url)) errors.upstream_url = "Use an http:// or https:// URL.";
  if (!url && provider?.upstream_required) errors.upstream_url = `${provider.label} needs an upstream URL.`;
  for (const key of provider?.options ?? []) {
    const value = values.options[key]?.trim() ?? "";
    if (value && OPTION_LABELS[key]?.numeric && !(Number(value) > 0))
      errors[`options.${key}`] = "Use a positive number.";
  }
  return errors;
}

function toBody(values: Values, provider: Provider | undefined): ProxyCreate {
  const options: Record<string, unknown> = {};
  for (const key of provider?.options ?? []) {
    const value = values.options[key]?.trim();
    if (value) options[key] = OPTION_LABELS[key]?.numeric ? Number(value) : value;
  }
  return {
    name: values.name.trim(),
    provider: values.provider,
    model: values.model.trim() || null,
    description: values.description.trim() || null,
    tags: values.tags
      .split(",")
      .map((tag) => tag.trim())
      .filter(Boolean),
    port: values.port.trim() ? Number(values.port) : null,
    upstream_url: values.upstream_url.trim() || null,
    options,
  };
}

export function ProxyForm({
  proxy,
  onDone,
  onCancel,
}: {
  proxy?: Proxy;
  onDone: (proxy: Proxy) => void;
  onCancel: () => void;
}) {
  const providers = useProviders();
  if (providers.isPending) return <Skeleton className="h-64" />;
  if (providers.error) return <ErrorNotice error={providers.error} title="Could not load the providers" />;
  return <ProxyFormBody providers={providers.data} proxy={proxy} onDone={onDone} onCancel={onCancel} />;
}

function ProxyFormBody({
  providers,
  proxy,
  onDone,
  onCancel,
}: {
  providers: Provider[];
  proxy?: Proxy;
  onDone: (proxy: Proxy) => void;
  onCancel: () => void;
}) {
  const queryClient = useQueryClient();
  const [values, setValues] = useState<Values>(() => initialValues(proxy, providers));
  const [touched, setTouched] = useState(false);
  const provider = providers.find((p) => p.name === values.provider);
  const local = validateProxy(values, provider);

  const save = useMutation({
    mutationFn: async (body: ProxyCreate) => {
      if (!proxy) return unwrap(api.POST("/api/proxies", { body }));
      const { port, ...rest } = body;
      // The port cannot be unset once assigned: leave it alone when the field is empty.
      const update = port === null ? rest : body;
      return unwrap(api.PATCH("/api/proxies/{proxy_id}", { params: { path: { proxy_id: proxy.id } }, body: update }));
    },
    onSuccess: (saved) => {
      void queryClient.invalidateQueries({ queryKey: keys.proxies });
      onDone(saved);
    },
  });
  const server = fieldErrors(save.error);
  const error = (field: string) => (touched ? local[field] : undefined) ?? server[field];
  const set = (field: keyof Values) => (event: { target: { value: string } }) =>
    setValues((v) => ({ ...v, [field]: event.target.value }));

  function submit(event: FormEvent) {
    event.preventDefault();
    setTouched(true);
    if (Object.keys(local).length === 0) save.mutate(toBody(values, provider));
  }

  const shownServerFields = new Set([
    "name",
    "provider",
    "model",
    "port",
    "upstream_url",
    "description",
    "tags",
    ...(provider?.options ?? []).map((k) => `options.${k}`),
    ...(provider?.options.length ? ["options"] : []),
  ]);
  const unshown =
    Object.keys(server).some((field) => !shownServerFields.has(field)) ||
    (save.error && Object.keys(server).length === 0);

  return (
    <form onSubmit={submit} noValidate className="space-y-5" aria-label={proxy ? "Edit proxy" : "New proxy"}>
      <div className="grid gap-5 sm:grid-cols-2">
        <TextField
          label="Name"
          value={values.name}
          onChange={set("name")}
          error={error("name")}
          placeholder="e.g. chatbot-dev"
          autoFocus
        />
        <SelectField label="Provider" value={values.provider} onChange={set("provider")} error={error("provider")}>
          {providers.map((p) => (
            <option key={p.name} value={p.name}>
              {p.label}
            </option>
          ))}
        </SelectField>
      </div>
      <TextField
        label="Upstream URL"
        value={values.upstream_url}
        onChange={set("upstream_url")}
        error={error("upstream_url")}
        optional={!provider?.upstream_required}
        placeholder={provider?.default_upstream ?? "https://…"}
        hint={
          provider?.default_upstream ? `Empty: ${provider.default_upstream}` : "Where requests that miss the cache go."
        }
        inputMode="url"
      />
      <div className="grid gap-5 sm:grid-cols-2">
        <TextField
          label="Port"
          value={values.port}
          onChange={set("port")}
          error={error("port")}
          optional
          inputMode="numeric"
          placeholder="Automatic"
          hint={proxy ? "Changing it restarts a running proxy." : "Empty: the next free port."}
        />
        <TextField
          label="Model"
          value={values.model}
          onChange={set("model")}
          error={error("model")}
          optional
          placeholder="e.g. gpt-4o-mini"
          hint="Used in the SDK snippet."
        />
      </div>
      {(provider?.options ?? []).map((key) => (
        <TextField
          key={key}
          label={OPTION_LABELS[key]?.label ?? key}
          hint={OPTION_LABELS[key]?.hint}
          optional
          inputMode={OPTION_LABELS[key]?.numeric ? "decimal" : undefined}
          suffix={OPTION_LABELS[key]?.numeric ? "s" : undefined}
          value={values.options[key] ?? ""}
          onChange={(event) => setValues((v) => ({ ...v, options: { ...v.options, [key]: event.target.value } }))}
          error={error(`options.${key}`) ?? (key === (provider?.options ?? [])[0] ? server.options : undefined)}
        />
      ))}
      <TextField
        label="Tags"
        value={values.tags}
        onChange={set("tags")}
        error={error("tags")}
        optional
        placeholder="staging, team-a"
        hint="Separate tags with commas."
      />
      <TextAreaField
        label="Description"
        value={values.description}
        onChange={set("description")}
        error={error("description")}
        optional
        rows={2}
        className="[&_textarea]:font-sans [&_textarea]:text-sm"
      />
      {unshown && <ErrorNotice error={save.error} />}
      <div className="flex justify-end gap-2 pt-1">
        <Button onClick={onCancel}>Cancel</Button>
        <Button type="submit" variant="primary" loading={save.isPending}>
          {proxy ? "Save changes" : "Create proxy"}
        </Button>
      </div>
    </form>
  );
}
