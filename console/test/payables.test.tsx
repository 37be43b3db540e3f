import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { render, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import type { ReactNode } from "react";
import { MemoryRouter } from "react-router-dom";
import Payables, { defaultPeriod } from "../src/screens/Payables";
import { diffUsage, parseWholeNumber, toCsv, windowBanner } from "../src/usage";

describe("whole-number usage", () => {
  it.each([
    ["1234567", 1234567],
    ["1,234,567", 1234567],
    [" 1,234,567 ", 1234567],
    ["0", 0],
    ["1 234 567", 1234567],
    ["1000000000000000", 1_000_000_000_000_000],
  ])("accepts %j as the integer %d", (text, value) => {
    expect(parseWholeNumber(text)).toEqual({ ok: true, value });
  });

  it("reads an empty cell as not reported", () => {
    expect(parseWholeNumber("  ")).toEqual({ ok: true, value: null });
  });

  it.each([
    ["1,234.567", /no decimals/],
    ["12.5", /no decimals/],
    ["0.0", /no decimals/],
    ["-5", /negative/],
    ["-1,000", /negative/],
    ["12,34", /thousands separators/],
    ["1,2345", /thousands separators/],
    ["abc", /whole number/],
    ["=1+1", /whole number/],
    ["1e6", /whole number/],
    ["1000000000000001", /at most/],
  ])("refuses %j with the reason", (text, reason) => {
    const parsed = parseWholeNumber(text);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.message).toMatch(reason);
  });
});

describe("the confirmation diff", () => {
  const rows = [
    { key: "a", label: "A on X", usage: null },
    { key: "b", label: "B on X", usage: 500 },
    { key: "c", label: "C on X", usage: 7 },
    { key: "d", label: "D on X", usage: 9 },
  ];
  const diff = (edits: [string, string][]) =>
    diffUsage(rows, (r) => r.key, (r) => r.label, (r) => r.usage, new Map(edits));

  it("lists every changed row old → new in table order, and nothing unchanged", () => {
    const { changes, invalid } = diff([
      ["c", "8"],
      ["a", "1,200,000"],
      ["b", "500"], // same value: not a change
      ["d", ""], // emptied: the API cannot unset a value, so it is not sent
    ]);
    expect(changes).toEqual([
      { key: "a", label: "A on X", before: null, after: 1200000 },
      { key: "c", label: "C on X", before: 7, after: 8 },
    ]);
    expect(invalid).toEqual([]);
  });

  it("counts invalid cells apart and never sends them", () => {
    const { changes, invalid } = diff([
      ["a", "12.5"],
      ["b", "600"],
    ]);
    expect(changes.map((c) => c.key)).toEqual(["b"]);
    expect(invalid).toEqual(["a"]);
  });
});

describe("a Save of more than 5,000 changes goes as one CSV file", () => {
  it("writes the upload's header and quotes what must be quoted", () => {
    expect(toCsv(["Data Provider Name", "Data Feed Name", "Use Case", "Usage"], [["Northwind, Inc.", 'The "best" feed', "activation", 1200000]])).toBe(
      'Data Provider Name,Data Feed Name,Use Case,Usage\r\n"Northwind, Inc.","The ""best"" feed",activation,1200000\r\n',
    );
  });
});

describe("the window banner", () => {
  const window = { opens_at: "2026-11-01T00:00:00Z", closes_at: "2026-11-06T00:00:00Z" };
  it("speaks the buyer's words for each state", () => {
    expect(windowBanner("2026-10", { ...window, state: "open" })).toBe("October 2026 usage is due by 5 November 23:59 UTC.");
    expect(windowBanner("2026-10", { ...window, state: "not_open" })).toBe(
      "October 2026 usage can be reported from 1 November 00:00 UTC until 5 November 23:59 UTC.",
    );
    expect(windowBanner("2026-10", { ...window, state: "closed" })).toBe("October 2026 is closed — add missed October impressions to November's report.");
    expect(windowBanner("2026-12", { opens_at: "2027-01-01T00:00:00Z", closes_at: "2027-01-06T00:00:00Z", state: "closed" })).toMatch(/December impressions to January's report/);
  });
});

describe("the default period follows the API's clock, not the browser's", () => {
  // The API's "now" is 2026-11-03: October's window is open.
  const stateAt = (now: string) => async (period: string) => {
    const [y, m] = period.split("-").map(Number) as [number, number];
    const opens = new Date(Date.UTC(y, m, 1)).toISOString();
    const closes = new Date(Date.UTC(y, m, 6)).toISOString();
    return now < opens ? "not_open" : now < closes ? "open" : "closed";
  };
  it.each([
    ["2026-11-03T10:00:00Z", "2026-12", "2026-10"],
    ["2026-11-03T10:00:00Z", "2025-01", "2026-10"],
    ["2026-10-09T12:00:00Z", "2026-12", "2026-10"], // no window open: the current month
    ["2027-02-10T00:00:00Z", "2026-12", "2027-02"],
  ])("API at %s, browser guessing %s → %s", async (now, guess, expected) => {
    expect(await defaultPeriod(guess, stateAt(now))).toBe(expected);
  });
});

type Handler = (request: Request) => Response | Promise<Response>;
let handler: Handler;
const calls: { method: string; path: string; body: string }[] = [];
const json = (status: number, body: unknown) => new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });

// jsdom lays nothing out: give elements a size so the virtualised table has a screenful of rows to render.
beforeAll(() => {
  Object.defineProperty(HTMLElement.prototype, "clientHeight", { configurable: true, get: () => 480 });
  Object.defineProperty(HTMLElement.prototype, "clientWidth", { configurable: true, get: () => 1000 });
});
afterAll(() => {
  delete (HTMLElement.prototype as { clientHeight?: number }).clientHeight;
  delete (HTMLElement.prototype as { clientWidth?: number }).clientWidth;
});

beforeEach(() => {
  calls.length = 0;
  vi.stubGlobal("fetch", async (input: Request) => {
    calls.push({ method: input.method, path: new URL(input.url).pathname, body: input.method === "GET" ? "" : await input.clone().text() });
    return handler(input);
  });
});
afterEach(() => vi.unstubAllGlobals());

function mount(ui: ReactNode, path: string) {
  const client = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  return render(
    <QueryClientProvider client={client}>
      <MemoryRouter initialEntries={[path]}>{ui}</MemoryRouter>
    </QueryClientProvider>,
  );
}

const WINDOW = { opens_at: "2026-11-01T00:00:00Z", closes_at: "2026-11-06T00:00:00Z", state: "open", period_state: "OPEN", due_day: 5 };
const row = (n: number, usage: number | null) => ({
  segment_id: `seg_${n}`,
  segment_name: `Segment ${n}`,
  destination_id: "dst_1",
  destination_name: "DSP",
  content_optimization: false,
  usage,
});

describe("Payables: edit, confirm, refusals on their rows", () => {
  function api(put: (body: { rows: { segment_id: string; usage: number }[] }) => Response) {
    return async (request: Request) => {
      const path = new URL(request.url).pathname;
      if (request.method === "PUT") return put(JSON.parse(await request.clone().text()));
      if (path.endsWith("/segments")) return json(200, { period: "2026-10", kind: "segments", window: WINDOW, rows: [row(1, null), row(2, 40), row(3, 5)], next_cursor: null });
      if (path.endsWith("/feeds")) return json(200, { period: "2026-10", kind: "feeds", window: WINDOW, rows: [], next_cursor: null });
      if (path.endsWith("/uploads")) return json(200, { uploads: [], next_cursor: null });
      return json(404, { error: { code: "not_found", message: "no" } });
    };
  }

  it("validates as the buyer types, confirms both changes old → new, and sends integers", async () => {
    handler = api(() => json(200, { updated: 2, unchanged: 0 }));
    mount(<Payables />, "/payables?period=2026-10");
    expect(await screen.findByLabelText("Reporting window")).toHaveTextContent("October 2026 usage is due by 5 November 23:59 UTC.");
    await userEvent.click(await screen.findByRole("button", { name: "Edit" }));
    const first = screen.getByLabelText("Usage of Segment 1 on DSP");
    await userEvent.type(first, "1,234.5");
    expect(first).toHaveAttribute("aria-invalid", "true");
    expect(first).toHaveAccessibleDescription(/no decimals/);
    expect(screen.getByRole("button", { name: "Save" })).toBeDisabled();
    await userEvent.clear(first);
    await userEvent.type(first, "1,234,567");
    const second = screen.getByLabelText("Usage of Segment 2 on DSP");
    await userEvent.clear(second);
    await userEvent.type(second, "41");
    expect(screen.getByText("2 changes.")).toBeInTheDocument();
    await userEvent.click(screen.getByRole("button", { name: "Save" }));
    const dialog = screen.getByRole("dialog", { name: "Confirm 2 changes to October 2026 usage" });
    const lines = within(dialog).getAllByRole("row").slice(1).map((r) => r.textContent);
    expect(lines).toEqual(["Segment 1 on DSPnot reported1,234,567", "Segment 2 on DSP4041"]);
    expect(within(dialog).getByRole("button", { name: "Confirm" })).toHaveFocus();
    expect(calls.some((c) => c.method === "PUT")).toBe(false); // nothing sent before Confirm
    await userEvent.click(within(dialog).getByRole("button", { name: "Confirm" }));
    expect(await screen.findByText("Saved: 2 values changed.")).toBeInTheDocument();
    const put = calls.find((c) => c.method === "PUT")!;
    expect(put.path).toBe("/v1/usage/2026-10/segments");
    expect(JSON.parse(put.body)).toEqual({
      rows: [
        { segment_id: "seg_1", destination_id: "dst_1", usage: 1234567 },
        { segment_id: "seg_2", destination_id: "dst_1", usage: 41 },
      ],
    });
  });

  it("shows a 422's refusal on the row it concerns and keeps the edits", async () => {
    handler = api(() =>
      json(422, {
        error: { code: "usage_rejected", message: "1 problem in the rows; nothing was saved.", details: [{ row: 1, code: "not_found", message: "Segment 'seg_3' with destination 'dst_1' is not known in this account." }] },
      }),
    );
    mount(<Payables />, "/payables?period=2026-10");
    await userEvent.click(await screen.findByRole("button", { name: "Edit" }));
    await userEvent.type(screen.getByLabelText("Usage of Segment 1 on DSP"), "10");
    const third = screen.getByLabelText("Usage of Segment 3 on DSP");
    await userEvent.clear(third);
    await userEvent.type(third, "6");
    await userEvent.click(screen.getByRole("button", { name: "Save" }));
    await userEvent.click(screen.getByRole("button", { name: "Confirm" }));
    await waitFor(() => expect(screen.getByLabelText("Usage of Segment 3 on DSP")).toHaveAttribute("aria-invalid", "true"));
    expect(screen.getByLabelText("Usage of Segment 3 on DSP")).toHaveAccessibleDescription(/not known in this account/);
    expect(screen.getByLabelText("Usage of Segment 1 on DSP")).toHaveAttribute("aria-invalid", "false");
    expect(screen.getByLabelText("Usage of Segment 1 on DSP")).toHaveValue("10");
    expect(screen.getByRole("alert")).toHaveTextContent(/nothing was saved\. The refused rows are marked below/);
  });

  it("shows a 409 (window closed) next to Save", async () => {
    handler = api(() =>
      json(409, { error: { code: "reporting_window_closed", message: "The reporting window for 2026-10 closed; add these impressions to 2026-11's report." } }),
    );
    mount(<Payables />, "/payables?period=2026-10");
    await userEvent.click(await screen.findByRole("button", { name: "Edit" }));
    await userEvent.type(screen.getByLabelText("Usage of Segment 1 on DSP"), "10");
    await userEvent.click(screen.getByRole("button", { name: "Save" }));
    await userEvent.click(screen.getByRole("button", { name: "Confirm" }));
    expect(await screen.findByRole("alert")).toHaveTextContent(/add these impressions to 2026-11's report/);
  });
});
