import "@testing-library/jest-dom/vitest";
import { cleanup } from "@testing-library/react";
import { afterEach, beforeEach } from "vitest";
import { fetchMock } from "./api";

// The API client captures `fetch` when it is created, so the fake is installed before any test module
// imports it; each test then says what the fake server answers.
globalThis.fetch = (input: RequestInfo | URL, init?: RequestInit) => fetchMock.handle(input, init);

beforeEach(() => {
  fetchMock.reset();
  window.localStorage.clear();
});

afterEach(() => {
  cleanup();
});
