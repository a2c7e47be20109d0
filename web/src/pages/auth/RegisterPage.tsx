import { useState, type FormEvent } from "react";
import { Link, useNavigate } from "react-router";
import { api, unwrap } from "../../api/client";
import { fieldErrors } from "../../api/errors";
import { useAuth } from "../../auth/AuthProvider";
import { useAuthConfig } from "../../auth/config";
import { AuthLayout } from "../../components/AuthLayout";
import { TextField } from "../../components/form";
import { Button, ErrorNotice, Notice, Spinner } from "../../components/ui";
import { Divider, SocialButtons } from "./SocialButtons";
import { ResendVerification } from "./VerifyEmailPage";

export const MIN_PASSWORD = 8;

export function validatePassword(email: string, password: string, confirm: string): Record<string, string> {
  const errors: Record<string, string> = {};
  if (password.length < MIN_PASSWORD) errors.password = `Use at least ${MIN_PASSWORD} characters.`;
  else if (email && password.toLowerCase().includes(email.toLowerCase()))
    errors.password = "Do not put your email address in the password.";
  if (confirm !== password) errors.confirm = "The passwords do not match.";
  return errors;
}

export function RegisterPage() {
  const config = useAuthConfig();
  const { signIn } = useAuth();
  const navigate = useNavigate();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [confirm, setConfirm] = useState("");
  const [touched, setTouched] = useState(false);
  const [submitting, setSubmitting] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [awaitingVerification, setAwaitingVerification] = useState(false);

  const local = validatePassword(email, password, confirm);
  const server = fieldErrors(error);
  const emailValid = /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email.trim());

  async function submit(event: FormEvent) {
    event.preventDefault();
    setTouched(true);
    if (!emailValid || Object.keys(local).length > 0) return;
    setSubmitting(true);
    setError(null);
    try {
      await unwrap(api.POST("/api/auth/register", { body: { email: email.trim(), password } }));
      if (config.data?.require_verification) {
        setAwaitingVerification(true);
        setSubmitting(false);
        return;
      }
      await signIn(email.trim(), password);
      navigate("/", { replace: true });
    } catch (caught) {
      setError(caught);
      setSubmitting(false);
    }
  }

  if (awaitingVerification) {
    return (
      <AuthLayout
        title="Check your inbox"
        subtitle={
          <>
            We sent a verification link to <strong className="text-ink">{email}</strong>.
          </>
        }
      >
        <p className="text-sm text-slate-600">Open the link to activate your account, then sign in.</p>
        <ResendVerification email={email} />
        <Link to="/login" className="mt-6 block text-sm font-medium text-accent-700 hover:underline">
          Back to sign in
        </Link>
      </AuthLayout>
    );
  }

  const settings = config.data;
  return (
    <AuthLayout
      title="Create your account"
      subtitle={
        settings?.first_user ? "The first account becomes the administrator." : "Start caching LLM calls in a minute."
      }
      footer={
        <>
          Already have an account?{" "}
          <Link to="/login" className="font-medium text-accent-700 hover:underline">
            Sign in
          </Link>
        </>
      }
    >
      {config.isPending ? (
        <Spinner label="Loading" />
      ) : settings?.registration === "closed" && !settings.first_user ? (
        <Notice tone="warning">
          Registration is closed on this server. Ask an administrator to create an account for you.
        </Notice>
      ) : (
        <>
          <ErrorNotice error={config.error} className="mb-4" />
          {settings?.registration === "allowlist" && !settings.first_user && (
            <Notice className="mb-5">Only invited email addresses can register on this server.</Notice>
          )}
          <SocialButtons providers={settings?.social ?? []} />
          {settings && settings.social.length > 0 && <Divider label="or" />}
          <form onSubmit={(event) => void submit(event)} className="space-y-4" noValidate>
            <TextField
              label="Email"
              type="email"
              autoComplete="email"
              required
              value={email}
              onChange={(event) => setEmail(event.target.value)}
              error={
                (touched && !emailValid ? "Enter an email address like you@example.com." : undefined) ?? server.email
              }
            />
            <TextField
              label="Password"
              type="password"
              autoComplete="new-password"
              required
              value={password}
              onChange={(event) => setPassword(event.target.value)}
              hint={`At least ${MIN_PASSWORD} characters.`}
              error={touched ? local.password : undefined}
            />
            <TextField
              label="Confirm password"
              type="password"
              autoComplete="new-password"
              required
              value={confirm}
              onChange={(event) => setConfirm(event.target.value)}
              error={touched ? local.confirm : undefined}
            />
            <ErrorNotice error={server.email ? null : error} />
            <Button type="submit" variant="primary" className="w-full" loading={submitting}>
              Create account
            </Button>
          </form>
        </>
      )}
    </AuthLayout>
  );
}
