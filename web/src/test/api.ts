// A fake control-plane API for component tests: routes are "METHOD /path" and answer JSON.
import type { LogRow, Proxy, Provider, User } from "../api/types";
import { DEFAULT_CACHE } from "../pages/proxies/recordings/types";

export interface Call {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: Headers;
  body: unknown;
}

type Answer = Response | ((call: Call) => Response | Promise<Response>);

export function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(body === undefined ? null : JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/json", ...headers },
  });
}

/** A streamed answer that the test feeds chunk by chunk, as a server sending events would. */
export function eventStream(): { response: Response; send: (text: string) => void; close: () => void } {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const stream = new ReadableStream<Uint8Array>({
    start(c) {
      controller = c;
    },
  });
  const encoder = new TextEncoder();
  return {
    response: new Response(stream, { status: 200, headers: { "Content-Type": "text/event-stream" } }),
    send: (text) => controller.enqueue(encoder.encode(text)),
    close: () => controller.close(),
  };
}

class FetchMock {
  private routes = new Map<string, Answer>();
  calls: Call[] = [];

  reset(): void {
    this.routes.clear();
    this.calls = [];
  }

  on(route: string, answer: Answer): this {
    this.routes.set(route, answer);
    return this;
  }

  callsTo(route: string): Call[] {
    const [method, path] = route.split(" ");
    return this.calls.filter((call) => call.method === method && call.path === path);
  }

  async handle(input: RequestInfo | URL, init?: RequestInit): Promise<Response> {
    const request = input instanceof Request ? input : new Request(new URL(String(input), "http://ui.test"), init);
    const url = new URL(request.url, "http://ui.test");
    const text = request.body ? await request.clone().text() : init?.body ? String(init.body) : "";
    let body: unknown = text;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      // a form body stays text
    }
    const headers = new Headers(request.headers);
    if (init?.headers) new Headers(init.headers).forEach((value, key) => headers.set(key, value));
    const call: Call = { method: request.method, path: url.pathname, query: url.searchParams, headers, body };
    this.calls.push(call);
    const answer = this.routes.get(`${call.method} ${call.path}`);
    if (!answer) return json({ detail: "Not Found" }, 404);
    return typeof answer === "function" ? answer(call) : answer.clone();
  }
}

export const fetchMock = new FetchMock();

// ---- sample data ----------------------------------------------------------------------------------

export const user = (overrides: Partial<User> = {}): User => ({
  id: "6f1c2f9e-0000-4000-8000-000000000001",
  email: "ada@example.com",
  is_active: true,
  is_superuser: false,
  is_verified: true,
  ...overrides,
});

export const providers: Provider[] = [
  {
    name: "openai",
    label: "OpenAI",
    default_upstream: "https://api.openai.com",
    upstream_required: false,
    options: ["upstream_timeout_seconds"],
    snippet:
      'from openai import OpenAI\n\nclient = OpenAI(base_url="{proxy_url}/v1", api_key="sk-...")\nclient.chat.completions.create(model="{model}", messages=[{{"role": "user", "content": "Hi"}}])\n',
  },
  {
    name: "azure",
    label: "Azure OpenAI",
    default_upstream: null,
    upstream_required: true,
    options: ["upstream_timeout_seconds"],
    snippet: 'client = AzureOpenAI(azure_endpoint="{proxy_url}")\n',
  },
];

export const proxy = (overrides: Partial<Proxy> = {}): Proxy => ({
  id: 7,
  name: "chatbot-dev",
  provider: "openai",
  model: "gpt-4o-mini",
  description: null,
  tags: [],
  port: 8001,
  upstream_url: null,
  options: {},
  cache: { ...DEFAULT_CACHE },
  status: "running",
  last_error: null,
  created_at: "2026-01-02T10:00:00Z",
  updated_at: "2026-01-02T10:00:00Z",
  ...overrides,
});

export const logRow = (overrides: Partial<LogRow> = {}): LogRow => ({
  id: 1,
  created_at: new Date().toISOString(),
  proxy_id: 7,
  client_ip: "127.0.0.1",
  method: "POST",
  path: "/v1/chat/completions",
  operation: "chat",
  model: "gpt-4o-mini",
  stream: false,
  status: 200,
  latency_ms: 12.5,
  upstream_ms: 11,
  ttfb_ms: 11,
  cache_status: "miss",
  cache_key: "abc123",
  fault: null,
  input_tokens: 10,
  output_tokens: 5,
  cached_tokens: 0,
  cost_usd: 0.0002,
  saved_usd: 0,
  error: null,
  ...overrides,
});
