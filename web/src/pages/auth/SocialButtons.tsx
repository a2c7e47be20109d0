import { useState } from "react";
import { api, unwrap } from "../../api/client";
import type { SocialProvider } from "../../api/types";
import { GitHubMark, GoogleMark } from "../../components/icons";
import { Button, ErrorNotice } from "../../components/ui";

const LABELS: Record<SocialProvider, { label: string; mark: () => React.JSX.Element }> = {
  google: { label: "Continue with Google", mark: GoogleMark },
  github: { label: "Continue with GitHub", mark: GitHubMark },
};

/** One button per configured provider; each asks the API where to send the browser. */
export function SocialButtons({ providers: offered }: { providers: string[] }) {
  // Only the providers this UI knows how to draw; the server may list more one day.
  const providers = offered.filter((name): name is SocialProvider => name in LABELS);
  const [pending, setPending] = useState<SocialProvider | null>(null);
  const [error, setError] = useState<unknown>(null);
  if (providers.length === 0) return null;

  async function go(provider: SocialProvider) {
    setPending(provider);
    setError(null);
    try {
      const path = provider === "google" ? "/api/auth/google/authorize" : "/api/auth/github/authorize";
      const { authorization_url } = await unwrap(api.GET(path));
      window.location.assign(authorization_url);
    } catch (caught) {
      setError(caught);
      setPending(null);
    }
  }

  return (
    <div className="space-y-2.5">
      {providers.map((provider) => {
        const { label, mark: Mark } = LABELS[provider];
        return (
          <Button
            key={provider}
            className="w-full"
            onClick={() => void go(provider)}
            loading={pending === provider}
            icon={<Mark />}
          >
            {label}
          </Button>
        );
      })}
      <ErrorNotice error={error} />
    </div>
  );
}

export function Divider({ label }: { label: string }) {
  return (
    <div className="my-6 flex items-center gap-3 text-xs text-slate-400 uppercase" role="separator">
      <span className="h-px flex-1 bg-slate-200" />
      {label}
      <span className="h-px flex-1 bg-slate-200" />
    </div>
  );
}
