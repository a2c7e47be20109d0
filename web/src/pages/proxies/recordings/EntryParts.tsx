// The parts of one recorded entry: the request it answered, the response, and a stream's events.
import type { ReactNode } from "react";
import { Badge } from "../../../components/ui";
import { StatusBadge } from "../../logs/badges";
import { formatOffset, prettyJson } from "./format";
import type { CanonicalRequest, RecordedResponse, StreamEvent, StreamFrame } from "./types";

export function Section({ title, children, aside }: { title: string; children: ReactNode; aside?: ReactNode }) {
  return (
    <section className="space-y-2">
      <div className="flex items-center justify-between gap-3">
        <h3 className="text-sm font-semibold text-ink">{title}</h3>
        {aside}
      </div>
      {children}
    </section>
  );
}

export function Code({ children, label }: { children: string; label: string }) {
  return (
    <pre
      aria-label={label}
      className="max-h-80 overflow-auto rounded-lg border border-slate-200 bg-slate-50 p-3 font-mono text-[12px] leading-5 whitespace-pre-wrap break-all text-slate-800"
    >
      {children}
    </pre>
  );
}

function Pairs({ pairs, label }: { pairs: [string, string][]; label: string }) {
  if (pairs.length === 0) return <p className="text-xs text-slate-500">No {label.toLowerCase()}.</p>;
  return (
    <table className="w-full text-left font-mono text-[12px]" aria-label={label}>
      <tbody className="divide-y divide-slate-100">
        {pairs.map(([name, value], index) => (
          <tr key={`${name}-${index}`}>
            <th scope="row" className="w-1/3 py-1 pr-3 align-top font-medium text-slate-500">
              {name}
            </th>
            <td className="py-1 break-all text-slate-800">{value}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function base64Bytes(text: string): number {
  const padding = text.endsWith("==") ? 2 : text.endsWith("=") ? 1 : 0;
  return Math.max(0, Math.floor((text.length * 3) / 4) - padding);
}

export function RequestView({ request, ignored }: { request: CanonicalRequest | null; ignored: string[] }) {
  return (
    <Section title="Request">
      {request === null ? (
        <p className="text-sm text-slate-500">
          This entry was recorded before requests were kept with their answers, so there is nothing to show.
        </p>
      ) : (
        <>
          <p className="font-mono text-[12.5px] text-slate-700">
            <span className="text-slate-400">{request.method}</span> {request.path}
          </p>
          {request.query.length > 0 && <Pairs pairs={request.query} label="Query parameters" />}
          <Pairs pairs={Object.entries(request.headers)} label="Request headers" />
          <Code label="Request body">{prettyJson(request.body)}</Code>
        </>
      )}
      <div className="text-sm">
        <span className="text-slate-500">Ignored paths: </span>
        {ignored.length === 0 ? (
          <span className="text-slate-500">none; every field counts in the key.</span>
        ) : (
          <ul className="mt-1 flex flex-wrap gap-1.5" aria-label="Ignored paths">
            {ignored.map((path) => (
              <li key={path}>
                <code className="rounded bg-slate-100 px-1.5 py-0.5 font-mono text-[12px] text-slate-700">{path}</code>
              </li>
            ))}
          </ul>
        )}
      </div>
    </Section>
  );
}

function Body({ response }: { response: RecordedResponse }) {
  if (response.json !== null && response.json !== undefined)
    return <Code label="Response body">{prettyJson(response.json)}</Code>;
  if (response.body !== null) return <Code label="Response body">{response.body || "(empty)"}</Code>;
  if (response.body_base64 !== null)
    return (
      <p className="text-sm text-slate-500">
        A binary body of {base64Bytes(response.body_base64).toLocaleString("en-US")} bytes; it is replayed byte for
        byte.
      </p>
    );
  return <p className="text-sm text-slate-500">No body.</p>;
}

/** An event-stream message: its type and what it carries (the inner model event, for invoke streams). */
function FrameLine({ frame }: { frame: StreamFrame }) {
  if (frame.error) return <p className="text-xs text-red-700">Unreadable frame: {frame.error}</p>;
  const content = frame.bytes_decoded ?? frame.payload ?? frame.payload_text ?? null;
  return (
    <div className="font-mono text-[12px] text-slate-800" data-testid="stream-frame">
      <span className="rounded bg-slate-100 px-1.5 py-0.5 text-slate-700">
        {frame.event_type ?? frame.message_type}
      </span>{" "}
      <span className="break-all whitespace-pre-wrap">
        {content === null ? "" : typeof content === "string" ? content : JSON.stringify(content)}
      </span>
    </div>
  );
}

function EventList({ events }: { events: StreamEvent[] }) {
  return (
    <ol className="divide-y divide-slate-100 rounded-lg border border-slate-200" aria-label="Stream events">
      {events.map((event, index) => (
        <li key={index} className="grid grid-cols-[4.5rem_1fr] gap-3 px-3 py-2" data-offset-ms={event.offset_ms ?? ""}>
          <span className="pt-px text-right font-mono text-[12px] text-accent-700 tabular">
            {formatOffset(event.offset_ms)}
          </span>
          {event.data !== null ? (
            <pre className="font-mono text-[12px] whitespace-pre-wrap break-all text-slate-800">{event.data}</pre>
          ) : event.data_base64 !== null ? (
            <div className="space-y-1">
              <span className="text-xs text-slate-500">
                Binary chunk, {base64Bytes(event.data_base64).toLocaleString("en-US")} bytes
              </span>
              {(event.frames ?? []).map((frame, at) => (
                <FrameLine key={at} frame={frame} />
              ))}
            </div>
          ) : (
            <span className="text-xs text-slate-400">(empty)</span>
          )}
        </li>
      ))}
    </ol>
  );
}

export function ResponseView({ response }: { response: RecordedResponse }) {
  const events = response.events;
  return (
    <>
      <Section title="Response" aside={<StatusBadge status={response.status} />}>
        <Pairs pairs={response.headers} label="Response headers" />
        {response.encoding && (
          <p className="text-xs text-slate-500">
            Shown decoded from {response.encoding}; a replay sends the stored bytes as they came.
          </p>
        )}
        {events === null && <Body response={response} />}
      </Section>
      {events !== null && (
        <Section
          title="Stream events"
          aside={
            <Badge tone="blue">
              {events.length} {events.length === 1 ? "event" : "events"}
            </Badge>
          }
        >
          <p className="text-xs text-slate-500">Offsets are measured from the start of the recorded request.</p>
          {events.length === 0 ? (
            <p className="text-sm text-slate-500">The stream was empty.</p>
          ) : (
            <EventList events={events} />
          )}
        </Section>
      )}
    </>
  );
}
