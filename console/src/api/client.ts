import createClient, { type Middleware } from "openapi-fetch";
import type { components, paths } from "./schema";

export type Schemas = components["schemas"];

/** The API key lives in sessionStorage only: it leaves with the tab and never appears in a URL. */
export const KEY_STORAGE = "audiens.api_key";
/** Dispatched on window when the API refuses the stored key (401). */
export const UNAUTHORIZED_EVENT = "audiens:unauthorized";

export function storedKey(): string | null {
  return sessionStorage.getItem(KEY_STORAGE);
}

export function storeKey(key: string | null): void {
  if (key) sessionStorage.setItem(KEY_STORAGE, key);
  else sessionStorage.removeItem(KEY_STORAGE);
}

const authorization: Middleware = {
  onRequest({ request }) {
    const key = storedKey();
    if (key && !request.headers.has("Authorization")) request.headers.set("Authorization", `Bearer ${key}`);
    return request;
  },
};

/** The typed client of the public API, generated from docs/openapi.json; same origin as the console. */
export const api = createClient<paths>({
  baseUrl: typeof window === "undefined" ? "" : window.location.origin,
  fetch: (request) => globalThis.fetch(request), // looked up per call, not captured at import
});
api.use(authorization);

export interface ErrorDetail {
  field?: string;
  step?: string;
  position?: number;
  message?: string;
  code?: string;
  [key: string]: unknown;
}

/** An error answered by the API (its `{"error": {code, message, details}}` body) or a network failure. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: ErrorDetail[] = [],
  ) {
    super(message);
    this.name = "ApiError";
  }

  /** The message of the detail about `field`, to show next to that field. */
  forField(field: string): string | undefined {
    const hit = this.details.find((d) => d.field === field || d.field?.endsWith(`.${field}`));
    return hit?.message;
  }
}

export function toApiError(status: number, body: unknown): ApiError {
  const error = (body as { error?: { code?: string; message?: string; details?: ErrorDetail[] } } | null)?.error;
  if (error && typeof error.message === "string") {
    return new ApiError(status, error.code ?? "error", error.message, Array.isArray(error.details) ? error.details : []);
  }
  return new ApiError(status, "http_error", `The API answered ${status} without an explanation.`);
}

interface Outcome<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

/** Await an openapi-fetch call: its data on any 2xx (200 or 201 alike), an ApiError otherwise. */
export async function call<T>(request: Promise<Outcome<T>>): Promise<T> {
  let outcome: Outcome<T>;
  try {
    outcome = await request;
  } catch {
    throw new ApiError(0, "network_error", "The API could not be reached. Check your connection and retry.");
  }
  if (!outcome.response.ok) throw toApiError(outcome.response.status, outcome.error);
  return outcome.data as T;
}

/** A document fetched through the authorizer: the key goes in the header, never in a link; an ApiError unless 2xx. */
async function fetchDocument(path: string, accept: string): Promise<Response> {
  let response: Response;
  try {
    response = await fetch(path, { headers: { Accept: accept, Authorization: `Bearer ${storedKey() ?? ""}` } });
  } catch {
    throw new ApiError(0, "network_error", "The API could not be reached. Check your connection and retry.");
  }
  if (!response.ok) {
    const text = await response.text();
    let body: unknown = null;
    try {
      body = JSON.parse(text);
    } catch {
      body = null;
    }
    throw toApiError(response.status, body);
  }
  return response;
}

/** A CSV (or other text) download. */
export async function downloadText(path: string, accept: string): Promise<string> {
  return (await fetchDocument(path, accept)).text();
}

/** A PDF download (`Accept: application/pdf`): its bytes and the file name the API gives in Content-Disposition. */
export async function downloadPdf(path: string, fallbackName: string): Promise<{ blob: Blob; name: string }> {
  const response = await fetchDocument(path, "application/pdf");
  const bytes = new Uint8Array(await response.arrayBuffer());
  if (String.fromCharCode(...bytes.subarray(0, 5)) !== "%PDF-") {
    throw new ApiError(response.status, "not_a_pdf", "The API answered something other than a PDF; retry the download.");
  }
  const named = /filename="?([^";]+)"?/i.exec(response.headers.get("Content-Disposition") ?? "");
  return { blob: new Blob([bytes], { type: "application/pdf" }), name: named?.[1] ?? fallbackName };
}

/** Every item of a paginated list: `page(cursor)` reads one page; pages are followed until no next_cursor. */
export async function allPages<T>(page: (cursor: string | undefined) => Promise<{ items: T[]; next_cursor?: string | null }>): Promise<T[]> {
  const items: T[] = [];
  let cursor: string | undefined;
  do {
    const next = await page(cursor);
    items.push(...next.items);
    cursor = next.next_cursor ?? undefined;
  } while (cursor);
  return items;
}
