import { useQuery } from "@tanstack/react-query";
import { api } from "../api/client";
import { ApiError } from "../api/errors";
import { keys } from "../api/queries";
import type { AuthConfig } from "../api/types";

/** What a server without account settings allows: open registration, passwords, no social sign-in. */
export const DEFAULT_AUTH_CONFIG: AuthConfig = {
  registration: "open",
  password_login: true,
  social: [],
  require_verification: false,
  first_user: false,
};

export function useAuthConfig() {
  return useQuery({
    queryKey: keys.authConfig,
    queryFn: async (): Promise<AuthConfig> => {
      const { data, response, error } = await api.GET("/api/auth/config");
      if (response.status === 404) return DEFAULT_AUTH_CONFIG;
      if (!response.ok || !data)
        throw new ApiError(response.status, (error as { detail?: unknown } | undefined)?.detail);
      return data;
    },
    staleTime: 30_000,
  });
}
