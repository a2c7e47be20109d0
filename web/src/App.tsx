import { Navigate, Outlet, Route, Routes, useLocation } from "react-router";
import { useAuth } from "./auth/AuthProvider";
import { AppLayout } from "./components/AppLayout";
import { Button, ErrorNotice, Spinner } from "./components/ui";
import { ForgotPasswordPage, ResetPasswordPage } from "./pages/auth/PasswordPages";
import { RegisterPage } from "./pages/auth/RegisterPage";
import { SignInPage } from "./pages/auth/SignInPage";
import { VerifyEmailPage } from "./pages/auth/VerifyEmailPage";
import { DashboardPage } from "./pages/dashboard/DashboardPage";
import { LogsPage } from "./pages/logs/LogsPage";
import { NotFoundPage } from "./pages/NotFoundPage";
import { ProxiesPage } from "./pages/proxies/ProxiesPage";
import { ProxyDetailPage } from "./pages/proxies/ProxyDetailPage";
import { SettingsPage } from "./pages/settings/SettingsPage";

function RequireUser() {
  const { token, user, loading, error, signOut } = useAuth();
  const location = useLocation();
  if (!token) return <Navigate to="/login" replace state={{ from: location.pathname + location.search }} />;
  if (loading) {
    return (
      <div className="flex min-h-screen items-center justify-center">
        <Spinner label="Loading your workspace" />
      </div>
    );
  }
  if (!user) {
    return (
      <div className="mx-auto max-w-md space-y-4 p-10">
        <ErrorNotice error={error} title="Could not load your account" />
        <Button onClick={() => void signOut()}>Sign out</Button>
      </div>
    );
  }
  return <Outlet />;
}

function GuestOnly() {
  const { token } = useAuth();
  return token ? <Navigate to="/" replace /> : <Outlet />;
}

export function App() {
  return (
    <Routes>
      <Route element={<GuestOnly />}>
        <Route path="/login" element={<SignInPage />} />
        <Route path="/register" element={<RegisterPage />} />
        <Route path="/forgot-password" element={<ForgotPasswordPage />} />
      </Route>
      {/* Links from emails work whether or not someone is signed in in this browser. */}
      <Route path="/reset-password" element={<ResetPasswordPage />} />
      <Route path="/verify-email" element={<VerifyEmailPage />} />
      <Route path="/sign-in" element={<Navigate to="/login" replace />} />
      <Route element={<RequireUser />}>
        <Route element={<AppLayout />}>
          <Route index element={<DashboardPage />} />
          <Route path="proxies" element={<ProxiesPage />} />
          <Route path="proxies/:id" element={<ProxyDetailPage />} />
          <Route path="logs" element={<LogsPage />} />
          <Route path="settings" element={<SettingsPage />} />
          <Route path="*" element={<NotFoundPage />} />
        </Route>
      </Route>
    </Routes>
  );
}
