import { useMutation } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { Link, useSearchParams } from "react-router";
import { api, unwrap } from "../../api/client";
import { AuthLayout } from "../../components/AuthLayout";
import { TextField } from "../../components/form";
import { Button, ErrorNotice, Notice } from "../../components/ui";
import { MIN_PASSWORD, validatePassword } from "./RegisterPage";

const backToSignIn = (
  <Link to="/login" className="font-medium text-accent-700 hover:underline">
    Back to sign in
  </Link>
);

export function ForgotPasswordPage() {
  const [email, setEmail] = useState("");
  const request = useMutation({
    mutationFn: (address: string) => unwrap(api.POST("/api/auth/forgot-password", { body: { email: address } })),
  });
  function submit(event: FormEvent) {
    event.preventDefault();
    request.mutate(email.trim());
  }
  return (
    <AuthLayout
      title="Reset your password"
      subtitle="Enter your email and we will send you a link to choose a new password."
      footer={backToSignIn}
    >
      {request.isSuccess ? (
        <Notice tone="success">
          If an account exists for <strong>{email}</strong>, a reset link is on its way. It works for one hour.
        </Notice>
      ) : (
        <form onSubmit={submit} className="space-y-4">
          <TextField
            label="Email"
            type="email"
            autoComplete="email"
            required
            value={email}
            onChange={(e) => setEmail(e.target.value)}
          />
          <ErrorNotice error={request.error} />
          <Button
            type="submit"
            variant="primary"
            className="w-full"
            loading={request.isPending}
            disabled={!email.trim()}
          >
            Send reset link
          </Button>
        </form>
      )}
    </AuthLayout>
  );
}

export function ResetPasswordPage() {
  const [params] = useSearchParams();
  const token = params.get("token") ?? "";
  const [password, setPassword] = useState("");
  const [confirm, setConfirm] = useState("");
  const [touched, setTouched] = useState(false);
  const reset = useMutation({
    mutationFn: (value: string) => unwrap(api.POST("/api/auth/reset-password", { body: { token, password: value } })),
  });
  const local = validatePassword("", password, confirm);
  function submit(event: FormEvent) {
    event.preventDefault();
    setTouched(true);
    if (Object.keys(local).length === 0) reset.mutate(password);
  }
  if (!token) {
    return (
      <AuthLayout title="Choose a new password" footer={backToSignIn}>
        <ErrorNotice error="This page needs the link from the reset email. Ask for a new one if it expired." />
        <Link to="/forgot-password" className="mt-4 block text-sm font-medium text-accent-700 hover:underline">
          Send a new reset link
        </Link>
      </AuthLayout>
    );
  }
  return (
    <AuthLayout title="Choose a new password" footer={backToSignIn}>
      {reset.isSuccess ? (
        <div className="space-y-5">
          <Notice tone="success">Your password has been changed. Sign in with the new one.</Notice>
          <Link to="/login" className="block text-sm font-medium text-accent-700 hover:underline">
            Go to sign in
          </Link>
        </div>
      ) : (
        <form onSubmit={submit} className="space-y-4" noValidate>
          <TextField
            label="New password"
            type="password"
            autoComplete="new-password"
            value={password}
            onChange={(e) => setPassword(e.target.value)}
            hint={`At least ${MIN_PASSWORD} characters.`}
            error={touched ? local.password : undefined}
          />
          <TextField
            label="Confirm new password"
            type="password"
            autoComplete="new-password"
            value={confirm}
            onChange={(e) => setConfirm(e.target.value)}
            error={touched ? local.confirm : undefined}
          />
          <ErrorNotice error={reset.error} />
          <Button type="submit" variant="primary" className="w-full" loading={reset.isPending}>
            Change password
          </Button>
        </form>
      )}
    </AuthLayout>
  );
}
