// Who is signed in. The token comes from session.ts; the user record from /api/users/me.
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from "react";
import { api, unwrap } from "../api/client";
import { keys } from "../api/queries";
import { getToken, onTokenChange, setToken } from "../api/session";
import type { User } from "../api/types";

interface AuthState {
  token: string | null;
  user: User | undefined;
  loading: boolean;
  error: unknown;
  signIn: (email: string, password: string) => Promise<void>;
  acceptToken: (token: string) => void;
  signOut: () => Promise<void>;
}

const AuthContext = createContext<AuthState | null>(null);

export async function passwordLogin(email: string, password: string): Promise<string> {
  const result = await unwrap(
    api.POST("/api/auth/jwt/login", {
      body: { username: email, password },
      // OAuth2 password flow: the form is urlencoded, not JSON.
      bodySerializer: (body) => new URLSearchParams(body as Record<string, string>),
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
    }),
  );
  return (result as { access_token: string }).access_token;
}

export function AuthProvider({ children }: { children: ReactNode }) {
  const queryClient = useQueryClient();
  const [token, setTokenState] = useState<string | null>(getToken);

  useEffect(
    () =>
      onTokenChange((next) => {
        setTokenState(next);
        if (!next) queryClient.clear();
      }),
    [queryClient],
  );

  const me = useQuery({
    queryKey: [...keys.me, token],
    queryFn: () => unwrap(api.GET("/api/users/me")),
    enabled: token !== null,
    staleTime: 60_000,
  });

  const signIn = useCallback(async (email: string, password: string) => {
    setToken(await passwordLogin(email, password));
  }, []);

  const acceptToken = useCallback((value: string) => setToken(value), []);

  const signOut = useCallback(async () => {
    try {
      await api.POST("/api/auth/jwt/logout");
    } catch {
      // signing out locally is what matters; the JWT simply expires
    }
    setToken(null);
  }, []);

  const value = useMemo<AuthState>(
    () => ({
      token,
      user: me.data,
      loading: token !== null && me.isPending,
      error: me.error,
      signIn,
      acceptToken,
      signOut,
    }),
    [token, me.data, me.isPending, me.error, signIn, acceptToken, signOut],
  );
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

export function useAuth(): AuthState {
  const context = useContext(AuthContext);
  if (!context) throw new Error("useAuth outside AuthProvider");
  return context;
}
