import { describe, expect, it } from "vitest";
import { SseParser } from "./sse";

describe("SseParser", () => {
  it("assembles events split across chunks", () => {
    const parser = new SseParser();
    expect(parser.push('event: log\ndata: {"id"')).toEqual([]);
    expect(parser.push(': 1}\n\nevent: log\ndata: {"id": 2}\n\n')).toEqual([
      { event: "log", data: '{"id": 1}' },
      { event: "log", data: '{"id": 2}' },
    ]);
  });

  it("joins multi-line data, ignores comments and understands CRLF", () => {
    const parser = new SseParser();
    expect(parser.push(": keep-alive\r\n\r\ndata: a\r\ndata: b\r\n\r\n")).toEqual([{ event: "message", data: "a\nb" }]);
  });
});
