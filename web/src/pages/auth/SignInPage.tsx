import { useEffect, useState, type FormEvent } from "react";
import { ApiError } from "../../api/errors";
import { Link, useLocation, useNavigate } from "react-router";
import { useAuth } from "../../auth/AuthProvider";
import { useAuthConfig } from "../../auth/config";
import { AuthLayout } from "../../components/AuthLayout";
import { TextField } from "../../components/form";
import { Button, ErrorNotice, Notice, Spinner } from "../../components/ui";
import { Divider, SocialButtons } from "./SocialButtons";
import { ResendVerification } from "./VerifyEmailPage";

/** Google and GitHub sign-in end here, with `#access_token=…` or `#error=CODE` in the fragment. */
export function readSocialOutcome(hash: string): { token?: string; error?: string } {
  const fragment = new URLSearchParams(hash.replace(/^#/, ""));
  const token = fragment.get("access_token") ?? undefined;
  const error = fragment.get("error") ?? undefined;
  return { ...(token ? { token } : {}), ...(error ? { error } : {}) };
}

export function SignInPage() {
  const { signIn, acceptToken } = useAuth();
  const config = useAuthConfig();
  const navigate = useNavigate();
  const location = useLocation();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [submitting, setSubmitting] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const from = (location.state as { from?: string } | null)?.from ?? "/";

  useEffect(() => {
    const outcome = readSocialOutcome(location.hash);
    if (!outcome.token && !outcome.error) return;
    // The token must not stay in the address bar or the history.
    window.history.replaceState(null, "", location.pathname + location.search);
    if (outcome.token) acceptToken(outcome.token);
    else setError(new ApiError(400, outcome.error));
  }, [location.hash, location.pathname, location.search, acceptToken]);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setSubmitting(true);
    setError(null);
    try {
      await signIn(email.trim(), password);
      navigate(from, { replace: true });
    } catch (caught) {
      setError(caught);
      setSubmitting(false);
    }
  }

  const settings = config.data;
  const canRegister = settings ? settings.registration !== "closed" || settings.first_user : false;
  return (
    <AuthLayout
      title="Sign in"
      subtitle="Cache, replay and break your LLM calls on purpose."
      footer={
        canRegister && (
          <>
            New here?{" "}
            <Link to="/register" className="font-medium text-accent-700 hover:underline">
              Create an account
            </Link>
          </>
        )
      }
    >
      {config.isPending ? (
        <Spinner label="Loading" />
      ) : (
        <>
          <ErrorNotice error={config.error} className="mb-4" />
          {settings?.first_user && (
            <Notice className="mb-5">
              No one has signed up yet.{" "}
              <Link to="/register" className="font-medium underline">
                Create the first account
              </Link>
              ; it becomes the administrator.
            </Notice>
          )}
          <SocialButtons providers={settings?.social ?? []} />
          {settings && settings.social.length > 0 && settings.password_login && <Divider label="or" />}
          {settings?.password_login !== false ? (
            <form onSubmit={(event) => void submit(event)} className="space-y-4" noValidate>
              <TextField
                label="Email"
                type="email"
                name="email"
                autoComplete="email"
                required
                value={email}
                onChange={(event) => setEmail(event.target.value)}
              />
              <div className="space-y-1.5">
                <TextField
                  label="Password"
                  type="password"
                  name="password"
                  autoComplete="current-password"
                  required
                  value={password}
                  onChange={(event) => setPassword(event.target.value)}
                />
                <div className="text-right">
                  <Link to="/forgot-password" className="text-xs font-medium text-accent-700 hover:underline">
                    Forgot your password?
                  </Link>
                </div>
              </div>
              <ErrorNotice error={error} />
              <Button
                type="submit"
                variant="primary"
                className="w-full"
                loading={submitting}
                disabled={!email || !password}
              >
                Sign in
              </Button>
            </form>
          ) : null}
          {settings?.password_login !== false &&
            error instanceof ApiError &&
            error.detail === "LOGIN_USER_NOT_VERIFIED" && <ResendVerification email={email.trim()} />}
          {settings?.password_login === false && (
            <p className="text-sm text-slate-500">Password sign-in is turned off on this server.</p>
          )}
        </>
      )}
    </AuthLayout>
  );
}
