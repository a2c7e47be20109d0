import { useMutation } from "@tanstack/react-query";
import { useEffect, useRef, useState, type FormEvent } from "react";
import { Link, useSearchParams } from "react-router";
import { api, unwrap } from "../../api/client";
import { ApiError } from "../../api/errors";
import { AuthLayout } from "../../components/AuthLayout";
import { TextField } from "../../components/form";
import { Button, ErrorNotice, Notice, Spinner } from "../../components/ui";

/** Sends a fresh verification link. The API answers the same whether or not the address exists. */
export function ResendVerification({ email: initial = "" }: { email?: string }) {
  const [email, setEmail] = useState(initial);
  const resend = useMutation({
    mutationFn: (address: string) => unwrap(api.POST("/api/auth/request-verify-token", { body: { email: address } })),
  });
  function submit(event: FormEvent) {
    event.preventDefault();
    resend.mutate(email.trim());
  }
  return (
    <form onSubmit={submit} className="mt-5 space-y-3">
      {!initial && (
        <TextField
          label="Email"
          type="email"
          autoComplete="email"
          required
          value={email}
          onChange={(e) => setEmail(e.target.value)}
        />
      )}
      {resend.isSuccess ? (
        <Notice tone="success">If {email} has an unverified account, a new link is on its way.</Notice>
      ) : (
        <Button type="submit" loading={resend.isPending} disabled={!email.trim()} className="w-full">
          Send a new link
        </Button>
      )}
      <ErrorNotice error={resend.error} />
    </form>
  );
}

export function VerifyEmailPage() {
  const [params] = useSearchParams();
  const token = params.get("token");
  const verify = useMutation({
    mutationFn: (value: string) => unwrap(api.POST("/api/auth/verify", { body: { token: value } })),
  });
  const sent = useRef(false);
  useEffect(() => {
    // StrictMode mounts twice in development; a token can be used once.
    if (token && !sent.current) {
      sent.current = true;
      verify.mutate(token);
    }
  }, [token, verify]);

  if (!token) {
    return (
      <AuthLayout title="Verify your email" subtitle="Lost the link, or did it expire? We can send another.">
        <ResendVerification />
        <Link to="/login" className="mt-6 block text-sm font-medium text-accent-700 hover:underline">
          Back to sign in
        </Link>
      </AuthLayout>
    );
  }
  const alreadyVerified = verify.error instanceof ApiError && verify.error.detail === "VERIFY_USER_ALREADY_VERIFIED";
  return (
    <AuthLayout title="Verify your email">
      {verify.isPending || verify.isIdle ? (
        <Spinner label="Checking your link" />
      ) : verify.isSuccess || alreadyVerified ? (
        <div className="space-y-5">
          <Notice tone="success">Your email address is verified. You can sign in now.</Notice>
          <Link
            to="/login"
            className="flex h-9 w-full items-center justify-center rounded-md bg-accent-600 text-sm font-medium text-white shadow-xs hover:bg-accent-700"
          >
            Sign in
          </Link>
        </div>
      ) : (
        <div>
          <ErrorNotice error={verify.error} />
          <ResendVerification />
        </div>
      )}
    </AuthLayout>
  );
}
