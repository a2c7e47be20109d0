import type { Provider, Proxy } from "../../api/types";
import { CopyButton } from "../../components/CopyButton";
import { Card, CardHeader } from "../../components/ui";
import { proxyUrl, renderSnippet } from "../../lib/format";

const SAMPLE_MODEL: Record<string, string> = {
  openai: "gpt-4o-mini",
  anthropic: "claude-sonnet-4-5",
  azure: "my-deployment",
  bedrock: "anthropic.claude-3-haiku-20240307-v1:0",
  vertex: "gemini-2.0-flash",
  gemini: "gemini-2.0-flash",
  openai_compatible: "llama-3.1-8b-instant",
};

export function snippetFor(proxy: Proxy, provider: Provider, location?: Pick<Location, "hostname">): string {
  return renderSnippet(provider.snippet, {
    proxy_url: proxyUrl(proxy.port, location),
    model: proxy.model ?? SAMPLE_MODEL[provider.name] ?? "model-name",
  });
}

export function SnippetCard({ proxy, provider }: { proxy: Proxy; provider: Provider | undefined }) {
  if (!provider) return null;
  const code = snippetFor(proxy, provider);
  return (
    <Card>
      <CardHeader
        title="Connect your app"
        description={`Keep the official ${provider.label} SDK; only the base URL changes.`}
      />
      <div className="p-5">
        <div className="overflow-hidden rounded-lg bg-[#0f1324] ring-1 ring-slate-900/10">
          <div className="flex items-center justify-between border-b border-white/10 px-4 py-2">
            <span className="text-xs font-medium text-slate-400">Python</span>
            <CopyButton text={code} label="Copy snippet" />
          </div>
          <pre className="overflow-x-auto px-4 py-3.5 text-[12.5px] leading-relaxed text-slate-100">
            <code data-testid="sdk-snippet">{code}</code>
          </pre>
        </div>
        <p className="mt-3 text-xs text-slate-500">
          Every answer carries{" "}
          <code className="rounded bg-slate-100 px-1 py-0.5 font-mono">x-rubberduck-cache: hit | miss | bypass</code>.
        </p>
      </div>
    </Card>
  );
}
