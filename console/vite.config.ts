import react from "@vitejs/plugin-react";
import { defineConfig } from "vitest/config";

// The console is served by the same origin as the API (/v1), so no proxy and no CORS are needed in production;
// `npm run dev` proxies /v1 and /_local to the local runtime on 127.0.0.1:3000.
export default defineConfig({
  plugins: [react()],
  build: { outDir: "dist", sourcemap: false, chunkSizeWarningLimit: 600 },
  server: { proxy: { "/v1": "http://127.0.0.1:3000", "/_local": "http://127.0.0.1:3000" } },
  test: { environment: "jsdom", globals: true, setupFiles: ["./test/setup.ts"], include: ["test/**/*.test.tsx"] },
});
