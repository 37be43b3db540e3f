// Starts the real local runtime (moto + the API Gateway emulation serving the built console) for the browser tests.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createWriteStream, existsSync, mkdirSync } from "node:fs";
import { createServer } from "node:net";
import { dirname, join, resolve } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const OUTPUT = join(ROOT, "console", "test-output");
export const OPERATOR_KEY = "aud_operator_console_e2e_key_0123456789";
export const SHOTS = join(OUTPUT, "screenshots");

/** Headless Debian Chromium and one page of 1280 × 900; uncaught page errors are pushed to `errors`. */
export async function openPage(errors) {
  mkdirSync(SHOTS, { recursive: true });
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH || "/usr/bin/chromium", args: ["--no-sandbox"] });
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  page.on("pageerror", (error) => errors.push(String(error)));
  return { browser, page };
}

/** `step(name, body)`: a test that leaves a screenshot of the page (`getPage()`) when it fails. */
export function stepsOn(getPage) {
  return (name, body) =>
    test(name, async () => {
      try {
        await body();
      } catch (error) {
        const shot = join(SHOTS, `FAILED-${name.slice(0, 40).replace(/[^a-z0-9]+/gi, "-")}.png`);
        await getPage()?.screenshot({ path: shot, fullPage: true }).catch(() => {});
        throw error;
      }
    });
}

function freePort() {
  return new Promise((done, fail) => {
    const server = createServer();
    server.on("error", fail);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => done(port));
    });
  });
}

export async function startRuntime(clock) {
  mkdirSync(OUTPUT, { recursive: true });
  if (!existsSync(join(ROOT, "console", "dist", "index.html"))) throw new Error("console/dist is missing: run `make console` first");
  const python = join(ROOT, ".venv", "bin", "python");
  const [apiPort, awsPort] = [await freePort(), await freePort()];
  const log = createWriteStream(join(OUTPUT, "runtime.log"));
  const child = spawn(python, ["-m", "local_runtime", "--no-state", "--api-port", String(apiPort), "--aws-port", String(awsPort), "--clock", clock], {
    cwd: ROOT,
    env: { ...process.env, PYTHONPATH: "layers/common:infra:.", AUDIENS_OPERATOR_KEY: OPERATOR_KEY },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout.pipe(log);
  child.stderr.pipe(log);
  const url = `http://127.0.0.1:${apiPort}`;
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`the local runtime exited (${child.exitCode}); see console/test-output/runtime.log`);
    try {
      const reply = await fetch(`${url}/_local/health`);
      if (reply.ok) return { url, stop: () => stop(child) };
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  await stop(child);
  throw new Error("the local runtime did not answer within 60 s");
}

function stop(child) {
  return new Promise((done) => {
    if (child.exitCode !== null) return done();
    child.once("exit", () => done());
    child.kill("SIGTERM");
    setTimeout(() => child.exitCode === null && child.kill("SIGKILL"), 10_000).unref();
  });
}

/** A minimal HTTP client of the API for what a test sets up outside the browser (other accounts, the clock). */
export function client(base) {
  return async function request(method, path, { key, body, headers = {} } = {}) {
    const reply = await fetch(base + path, {
      method,
      headers: { ...(key ? { Authorization: `Bearer ${key}` } : {}), ...(body ? { "Content-Type": "application/json" } : {}), ...headers },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await reply.text();
    let json = null;
    try {
      json = JSON.parse(text);
    } catch {
      json = null;
    }
    return { status: reply.status, body: json, text };
  };
}

export async function eventually(check, { timeout = 30_000, interval = 250 } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  while (Date.now() < deadline) {
    last = await check();
    if (last) return last;
    await new Promise((r) => setTimeout(r, interval));
  }
  throw new Error(`condition not met within ${timeout} ms (last: ${JSON.stringify(last)})`);
}

/**
 * The steps a billing journey repeats, on the page, runtime and API client that `current()` returns when called:
 * screenshots, main navigation, signing in with a key, moving the runtime's clock, API calls that must succeed.
 */
export function journey(current) {
  return {
    async shot(name) {
      await current().page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
    },
    async nav(name, heading = name) {
      const { page } = current();
      await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name, exact: true }).click();
      await page.getByRole("heading", { level: 1, name: heading }).waitFor();
    },
    async signInAs(key) {
      const { page, runtime } = current();
      if (await page.getByRole("button", { name: "Sign out" }).count()) await page.getByRole("button", { name: "Sign out" }).click();
      await page.goto(`${runtime.url}/`); // to sign-in, then to the account's home
      await page.getByLabel("API key").fill(key);
      await page.getByRole("button", { name: "Sign in" }).click();
      await page.getByRole("navigation", { name: "Main" }).waitFor();
    },
    async setClock(now) {
      const reply = await current().api("POST", "/_local/clock", { body: { now, wait: true } });
      assert.equal(reply.status, 200, reply.text);
    },
    async ok(method, path, key, body, expect = [200, 201, 202]) {
      const reply = await current().api(method, path, { key, body });
      assert.ok(expect.includes(reply.status), `${method} ${path} answered ${reply.status}: ${reply.text}`);
      return reply.body;
    },
  };
}
