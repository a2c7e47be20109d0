import { describe, expect, it } from "vitest";
import { formatMs, formatPercent, formatUsd, fromLocalInput, proxyUrl, renderSnippet, splitLines } from "./format";

describe("renderSnippet", () => {
  it("fills placeholders and turns doubled braces into literal ones, like Python's str.format", () => {
    const template = 'OpenAI(base_url="{proxy_url}/v1")\nmessages=[{{"role": "user"}}]  # {model}';
    expect(renderSnippet(template, { proxy_url: "http://localhost:8001", model: "gpt-4o" })).toBe(
      'OpenAI(base_url="http://localhost:8001/v1")\nmessages=[{"role": "user"}]  # gpt-4o',
    );
  });

  it("leaves unknown placeholders alone", () => {
    expect(renderSnippet("{region}", {})).toBe("{region}");
  });
});

describe("proxyUrl", () => {
  it("uses the host the browser reached the server by", () => {
    expect(proxyUrl(8001, { hostname: "rubberduck.lan" })).toBe("http://rubberduck.lan:8001");
  });

  it("brackets IPv6 addresses", () => {
    expect(proxyUrl(8001, { hostname: "::1" })).toBe("http://[::1]:8001");
  });
});

describe("number formats", () => {
  it("keeps small costs readable", () => {
    expect(formatUsd(0)).toBe("$0.00");
    expect(formatUsd(12.345)).toBe("$12.35");
    expect(formatUsd(0.0123)).toBe("$0.012");
    expect(formatUsd(0.000024)).toBe("$0.000024");
    expect(formatUsd(0.5)).toBe("$0.50");
    expect(formatUsd(-0.25)).toBe("-$0.25");
    expect(formatUsd(null)).toBe("—");
  });

  it("formats rates given as fractions", () => {
    expect(formatPercent(0.3333)).toBe("33.3%");
    expect(formatPercent(1)).toBe("100%");
    expect(formatPercent(null)).toBe("—");
  });

  it("formats durations", () => {
    expect(formatMs(0.25)).toBe("0.3 ms");
    expect(formatMs(45)).toBe("45 ms");
    expect(formatMs(1234)).toBe("1.23 s");
  });
});

describe("inputs", () => {
  it("splits lists on lines and commas", () => {
    expect(splitLines(" 10.0.0.0/8\n\n127.0.0.1, ::1 ")).toEqual(["10.0.0.0/8", "127.0.0.1", "::1"]);
  });

  it("reads datetime-local values as local time", () => {
    expect(fromLocalInput("")).toBeUndefined();
    expect(fromLocalInput("2026-03-01T12:30")).toBe(new Date(2026, 2, 1, 12, 30).toISOString());
  });
});
