// Server-wide settings, for administrators: who may register and sign in, global IP lists, and how
// long request logs are kept.
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useEffect, useState, type FormEvent, type ReactNode } from "react";
import { api, unwrap } from "../../api/client";
import { fieldErrors } from "../../api/errors";
import { keys, useSettings } from "../../api/queries";
import type { GlobalSettings, Registration } from "../../api/types";
import { useAuth } from "../../auth/AuthProvider";
import { Switch, TextAreaField, TextField } from "../../components/form";
import { useToast } from "../../components/Toast";
import { Button, Card, CardHeader, ErrorNotice, LoadingRows, Notice, PageHeader, cx } from "../../components/ui";
import { splitLines } from "../../lib/format";

interface Form {
  registration: Registration;
  allowlist: string;
  password_login: boolean;
  google_login: boolean;
  github_login: boolean;
  require_verification: boolean;
  ip_allow: string;
  ip_block: string;
  retention: string;
}

function toForm(s: GlobalSettings): Form {
  return {
    registration: s.registration,
    allowlist: s.registration_allowlist.join("\n"),
    password_login: s.password_login,
    google_login: s.google_login,
    github_login: s.github_login,
    require_verification: s.require_verification,
    ip_allow: s.ip_allow.join("\n"),
    ip_block: s.ip_block.join("\n"),
    retention: s.log_retention_days === null ? "" : String(s.log_retention_days),
  };
}

export function toSettings(form: Form): { settings: GlobalSettings; errors: Record<string, string> } {
  const errors: Record<string, string> = {};
  let retention: number | null = null;
  if (form.retention.trim()) {
    retention = Number(form.retention);
    if (!Number.isInteger(retention) || retention < 1)
      errors.log_retention_days = "Use a whole number of days, 1 or more; empty keeps logs forever.";
  }
  if (!form.password_login && !form.google_login && !form.github_login)
    errors.password_login = "Leave at least one way to sign in switched on.";
  return {
    settings: {
      registration: form.registration,
      registration_allowlist: splitLines(form.allowlist),
      password_login: form.password_login,
      google_login: form.google_login,
      github_login: form.github_login,
      require_verification: form.require_verification,
      ip_allow: splitLines(form.ip_allow),
      ip_block: splitLines(form.ip_block),
      log_retention_days: retention,
    },
    errors,
  };
}

const REGISTRATION: { value: Registration; label: string; description: string }[] = [
  { value: "open", label: "Open", description: "Anyone who can reach this server can create an account." },
  { value: "allowlist", label: "Allowlist", description: "Only the email addresses or domains listed below." },
  { value: "closed", label: "Closed", description: "Only administrators create accounts (rubberduck user create)." },
];

function Section({ title, description, children }: { title: string; description: string; children: ReactNode }) {
  return (
    <Card>
      <CardHeader title={title} description={description} />
      <div className="space-y-5 p-5">{children}</div>
    </Card>
  );
}

export function SettingsPage() {
  const { user } = useAuth();
  const allowed = Boolean(user?.is_superuser);
  const settings = useSettings(allowed);
  if (!allowed) {
    return (
      <>
        <PageHeader title="Settings" />
        <Notice tone="warning">Only administrators can change server settings.</Notice>
      </>
    );
  }
  return (
    <>
      <PageHeader title="Settings" description="These apply to the whole server and every user on it." />
      {settings.isPending ? (
        <Card>
          <LoadingRows label="Loading settings" />
        </Card>
      ) : settings.error ? (
        <ErrorNotice error={settings.error} title="Could not load the settings" />
      ) : (
        <SettingsForm saved={settings.data} />
      )}
    </>
  );
}

function SettingsForm({ saved }: { saved: GlobalSettings }) {
  const queryClient = useQueryClient();
  const toast = useToast();
  const [form, setForm] = useState(() => toForm(saved));
  useEffect(() => setForm(toForm(saved)), [saved]);
  const { settings, errors: local } = toSettings(form);
  const save = useMutation({
    mutationFn: (body: GlobalSettings) => unwrap(api.PUT("/api/settings", { body })),
    onSuccess: (next) => {
      queryClient.setQueryData(keys.settings, next);
      void queryClient.invalidateQueries({ queryKey: keys.authConfig });
      toast.success("Settings saved.");
    },
  });
  const server = fieldErrors(save.error);
  const error = (key: string) => local[key] ?? server[key];
  const set = <K extends keyof Form>(key: K, value: Form[K]) => setForm((f) => ({ ...f, [key]: value }));
  const dirty = JSON.stringify(toSettings(toForm(saved)).settings) !== JSON.stringify(settings);

  function submit(event: FormEvent) {
    event.preventDefault();
    if (Object.keys(local).length === 0) save.mutate(settings);
  }

  return (
    <form onSubmit={submit} noValidate aria-label="Server settings" className="space-y-6">
      <Section title="Registration" description="Who can create an account.">
        <fieldset>
          <legend className="sr-only">Registration</legend>
          <div className="grid gap-3 sm:grid-cols-3">
            {REGISTRATION.map((option) => (
              <label
                key={option.value}
                className={cx(
                  "cursor-pointer rounded-lg border p-3.5 transition-colors has-focus-visible:ring-3 has-focus-visible:ring-accent-100",
                  form.registration === option.value
                    ? "border-accent-500 bg-accent-50/60"
                    : "border-slate-200 hover:border-slate-300",
                )}
              >
                <span className="flex items-center gap-2">
                  <input
                    type="radio"
                    name="registration"
                    value={option.value}
                    checked={form.registration === option.value}
                    onChange={() => set("registration", option.value)}
                    className="accent-accent-600"
                  />
                  <span className="text-sm font-medium text-ink">{option.label}</span>
                </span>
                <span className="mt-1 block text-xs text-slate-500">{option.description}</span>
              </label>
            ))}
          </div>
        </fieldset>
        {form.registration === "allowlist" && (
          <TextAreaField
            label="Allowed emails and domains"
            placeholder={"alice@example.com\n@example.org"}
            hint="One per line. A line starting with @ allows a whole domain."
            value={form.allowlist}
            onChange={(e) => set("allowlist", e.target.value)}
            error={error("registration_allowlist")}
          />
        )}
        <Switch
          label="Require email verification"
          description="New accounts must open the link in a verification email before they can sign in."
          checked={form.require_verification}
          onChange={(v) => set("require_verification", v)}
        />
      </Section>

      <Section
        title="Sign-in methods"
        description="Social sign-in also needs the provider's client ID and secret in the server's environment."
      >
        <Switch label="Email and password" checked={form.password_login} onChange={(v) => set("password_login", v)} />
        <Switch label="Google" checked={form.google_login} onChange={(v) => set("google_login", v)} />
        <Switch label="GitHub" checked={form.github_login} onChange={(v) => set("github_login", v)} />
        {error("password_login") && (
          <p className="text-sm font-medium text-red-600" role="alert">
            {error("password_login")}
          </p>
        )}
        {error("google_login") && (
          <p className="text-sm font-medium text-red-600" role="alert">
            {error("google_login")}
          </p>
        )}
        {error("github_login") && (
          <p className="text-sm font-medium text-red-600" role="alert">
            {error("github_login")}
          </p>
        )}
      </Section>

      <Section
        title="Network access"
        description="Applies to every proxy, before each proxy's own IP filter. Addresses or CIDR ranges, one per line."
      >
        <div className="grid gap-5 md:grid-cols-2">
          <TextAreaField
            label="Allow only"
            placeholder={"127.0.0.1\n10.0.0.0/8"}
            hint="Empty: every address may connect."
            value={form.ip_allow}
            onChange={(e) => set("ip_allow", e.target.value)}
            error={error("ip_allow")}
          />
          <TextAreaField
            label="Block"
            placeholder="203.0.113.7"
            value={form.ip_block}
            onChange={(e) => set("ip_block", e.target.value)}
            error={error("ip_block")}
          />
        </div>
      </Section>

      <Section title="Data retention" description="Older request logs are deleted automatically.">
        <TextField
          label="Keep request logs for"
          suffix="days"
          inputMode="numeric"
          placeholder="Forever"
          className="max-w-xs"
          value={form.retention}
          onChange={(e) => set("retention", e.target.value)}
          error={error("log_retention_days")}
          optional
        />
      </Section>

      <div className="sticky bottom-0 z-10 -mx-4 flex flex-wrap items-center justify-end gap-3 border-t border-slate-200 bg-slate-50/95 px-4 py-4 backdrop-blur sm:-mx-6 sm:px-6 lg:-mx-10 lg:px-10">
        <ErrorNotice error={Object.keys(server).length ? null : save.error} className="mr-auto" />
        {dirty && <span className="text-sm text-slate-500">Unsaved changes</span>}
        <Button disabled={!dirty} onClick={() => setForm(toForm(saved))}>
          Discard
        </Button>
        <Button type="submit" variant="primary" loading={save.isPending} disabled={!dirty}>
          Save settings
        </Button>
      </div>
    </form>
  );
}
