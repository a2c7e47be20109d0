// The live log: server-sent events read with fetch, so the token goes in the Authorization header
// (EventSource cannot send headers). Reconnects with a growing pause when the connection drops.
import { authorisedFetch } from "./client";
import { ApiError } from "./errors";

export interface SseEvent {
  event: string;
  data: string;
}

/** Splits a text stream into events; feed it chunks, it returns the events completed so far. */
export class SseParser {
  private buffer = "";
  private event = "message";
  private data: string[] = [];

  push(chunk: string): SseEvent[] {
    this.buffer += chunk;
    const events: SseEvent[] = [];
    let newline = this.buffer.search(/\r\n|\r|\n/);
    while (newline >= 0) {
      const line = this.buffer.slice(0, newline);
      const width = this.buffer.startsWith("\r\n", newline) ? 2 : 1;
      this.buffer = this.buffer.slice(newline + width);
      if (line === "") {
        if (this.data.length > 0) events.push({ event: this.event, data: this.data.join("\n") });
        this.event = "message";
        this.data = [];
      } else if (!line.startsWith(":")) {
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        let value = colon < 0 ? "" : line.slice(colon + 1);
        if (value.startsWith(" ")) value = value.slice(1);
        if (field === "event") this.event = value;
        else if (field === "data") this.data.push(value);
      }
      newline = this.buffer.search(/\r\n|\r|\n/);
    }
    return events;
  }
}

export type StreamState = "connecting" | "live" | "reconnecting" | "error";

export interface StreamHandlers {
  onEvent: (event: SseEvent) => void;
  onState: (state: StreamState, error?: unknown) => void;
}

/** Opens the stream and keeps it open until the returned function is called. */
export function openEventStream(url: string, handlers: StreamHandlers): () => void {
  const controller = new AbortController();
  let attempt = 0;

  async function run(): Promise<void> {
    while (!controller.signal.aborted) {
      handlers.onState(attempt === 0 ? "connecting" : "reconnecting");
      try {
        const response = await authorisedFetch(url, {
          headers: { Accept: "text/event-stream" },
          signal: controller.signal,
          cache: "no-store",
        });
        if (!response.body) throw new Error("The server sent no event stream.");
        handlers.onState("live");
        attempt = 0;
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        const parser = new SseParser();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          for (const event of parser.push(value)) handlers.onEvent(event);
        }
      } catch (error) {
        if (controller.signal.aborted) return;
        // A 4xx will not get better by retrying: report it and stop.
        if (error instanceof ApiError && error.status >= 400 && error.status < 500) {
          handlers.onState("error", error);
          return;
        }
      }
      if (controller.signal.aborted) return;
      attempt += 1;
      const pause = Math.min(15_000, 500 * 2 ** Math.min(attempt, 5));
      await new Promise((resolve) => setTimeout(resolve, pause));
    }
  }

  void run();
  return () => controller.abort();
}
