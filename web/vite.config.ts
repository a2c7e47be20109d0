/// <reference types="vitest/config" />
import tailwindcss from "@tailwindcss/vite";
import react from "@vitejs/plugin-react";
import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

// `npm run dev` serves the UI on :5173 and forwards the API to a running `rubberduck serve`.
const api = process.env.RUBBERDUCK_API ?? "http://127.0.0.1:9000";
const forwarded = ["/api", "/healthz", "/docs", "/openapi.json"];

export default defineConfig({
  plugins: [react(), tailwindcss()],
  build: {
    // The Python package serves this directory at `/` (rubberduck.api.static).
    outDir: fileURLToPath(new URL("../src/rubberduck/static", import.meta.url)),
    emptyOutDir: true,
    chunkSizeWarningLimit: 600,
  },
  server: {
    proxy: Object.fromEntries(forwarded.map((path) => [path, { target: api, changeOrigin: false }])),
  },
  test: {
    environment: "jsdom",
    setupFiles: ["./src/test/setup.ts"],
    include: ["src/**/*.test.{ts,tsx}"],
    css: false,
    restoreMocks: true,
  },
});
