import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import type { Virtualizer } from "@tanstack/react-virtual";
import { useDeferredValue, useEffect, useId, useMemo, useRef, useState, type KeyboardEvent } from "react";
import { Link, useSearchParams } from "react-router-dom";
import { api, ApiError, call, downloadText, type Schemas } from "../api/client";
import { ConfirmModal } from "../billing/documents";
import { Empty, ErrorText, Loading, QueryView } from "../ui";
import {
  addMonths,
  diffUsage,
  formatUsage,
  isPeriod,
  parseWholeNumber,
  periodName,
  saveFile,
  toCsv,
  windowBanner,
  type Change,
} from "../usage";
import { VirtualTable } from "../VirtualTable";

type Kind = "segments" | "feeds";
type Window = Schemas["Window"];

/** One reportable row of either tab, with what the API needs to address it. */
export interface UsageRow {
  key: string;
  cells: string[];
  usage: number | null;
  label: string;
  search: string;
  address: Record<string, string>;
  note?: string;
}

/** The PUT takes at most this many rows; a bigger Save goes as one CSV upload (accepted or rejected whole). */
export const PUT_LIMIT = 5000;

const KINDS: Record<Kind, { tab: string; columns: string[]; csvHeader: string[] }> = {
  segments: { tab: "Segment Usage", columns: ["Segment", "Destination"], csvHeader: ["Segment ID", "Destination ID", "Usage"] },
  feeds: { tab: "Feed Usage", columns: ["Provider", "Feed", "Use case", "Unit"], csvHeader: ["Data Provider Name", "Data Feed Name", "Use Case", "Usage"] },
};

function segmentRow(r: Schemas["SegmentUsageRow"]): UsageRow {
  const cells = [r.segment_name, r.destination_name];
  return {
    key: `${r.segment_id}\u0000${r.destination_id}`,
    cells,
    usage: r.usage ?? null,
    label: `${r.segment_name} on ${r.destination_name}`,
    search: `${cells.join(" ")} ${r.segment_id} ${r.destination_id}`.toLowerCase(),
    address: { segment_id: r.segment_id, destination_id: r.destination_id },
    note: r.content_optimization ? "content optimization: not counted toward CPM" : undefined,
  };
}

function feedRow(r: Schemas["FeedUsageRow"]): UsageRow {
  const cells = [r.provider_name, r.feed_name, r.use_case.replace(/_/g, " "), r.unit === "cpm" ? "CPM" : r.unit];
  return {
    key: `${r.provider_name}\u0000${r.feed_name}\u0000${r.use_case}`,
    cells,
    usage: r.usage ?? null,
    label: `${r.feed_name} (${r.provider_name}), ${r.use_case.replace(/_/g, " ")}`,
    search: cells.join(" ").toLowerCase(),
    address: { provider_name: r.provider_name, feed_name: r.feed_name, use_case: r.use_case },
  };
}

/** Every row of a period's usage (following next_cursor) and its window. */
async function fetchUsage(period: string, kind: Kind): Promise<{ window: Window; rows: UsageRow[] }> {
  const rows: UsageRow[] = [];
  let cursor: string | undefined;
  let window: Window | undefined;
  do {
    const query = { limit: 10000, ...(cursor ? { cursor } : {}) };
    if (kind === "segments") {
      const page = await call(api.GET("/v1/usage/{period}/segments", { params: { path: { period }, query } }));
      rows.push(...page.rows.map(segmentRow));
      window = page.window;
      cursor = page.next_cursor ?? undefined;
    } else {
      const page = await call(api.GET("/v1/usage/{period}/feeds", { params: { path: { period }, query } }));
      rows.push(...page.rows.map(feedRow));
      window = page.window;
      cursor = page.next_cursor ?? undefined;
    }
  } while (cursor);
  return { window: window!, rows };
}

/** A period's reporting window (one row's worth of the feed-level view: the cheapest read that carries it). */
const windowOf = async (period: string) =>
  (await call(api.GET("/v1/usage/{period}/feeds", { params: { path: { period }, query: { limit: 1 } } }))).window;

/**
 * The period to show first: the one whose window is open, else the current month (the next report due).
 * The API's clock decides (it is not the browser's): walk from a guess by the windows' states.
 */
export async function defaultPeriod(guess: string, stateOf: (period: string) => Promise<Window["state"]>): Promise<string> {
  let period = guess;
  for (let step = 0; step < 36; step += 1) {
    const state = await stateOf(period);
    if (state === "open") return period;
    if (state === "not_open") {
      // Before this window opens: either the previous period's window is open, or this is the current month.
      const previous = await stateOf(addMonths(period, -1));
      if (previous === "open") return addMonths(period, -1);
      if (previous === "closed") return period;
      period = addMonths(period, -1);
    } else {
      period = addMonths(period, 1);
    }
  }
  return guess;
}

function browserGuess(): string {
  return new Date().toISOString().slice(0, 7);
}

export default function Payables() {
  const [params, setParams] = useSearchParams();
  const requested = params.get("period");
  const tab: Kind = params.get("tab") === "feeds" ? "feeds" : "segments";
  const fallback = useQuery({
    queryKey: ["default-period"],
    queryFn: () => defaultPeriod(browserGuess(), async (p) => (await windowOf(p)).state),
    enabled: !requested,
    staleTime: 60_000,
  });
  const period = requested ?? fallback.data;
  const set = (next: Record<string, string>) => setParams({ ...Object.fromEntries(params), ...(period ? { period } : {}), ...next });
  if (requested && !isPeriod(requested)) {
    return (
      <>
        <h1>Payables</h1>
        <ErrorText error={new Error(`“${requested}” is not a period: write it as YYYY-MM, e.g. 2026-10.`)} />
      </>
    );
  }
  return (
    <>
      <h1>Payables</h1>
      <p className="lead">Report each month's impressions per segment and destination, or per data feed; the invoice follows the close on the 6th.</p>
      {fallback.isError ? <ErrorText error={fallback.error} /> : null}
      {!period ? (
        fallback.isPending ? <Loading what="the reporting period" /> : null
      ) : (
        <PeriodView key={period} period={period} tab={tab} onTab={(t) => set({ tab: t })} onPeriod={(p) => set({ period: p })} />
      )}
    </>
  );
}

function PeriodView({ period, tab, onTab, onPeriod }: { period: string; tab: Kind; onTab: (t: Kind) => void; onPeriod: (p: string) => void }) {
  const window = useQuery({ queryKey: ["usage-window", period], queryFn: () => windowOf(period) });
  const tabsId = useId();
  const tabs: Kind[] = ["segments", "feeds"];
  const onKey = (event: KeyboardEvent) => {
    if (event.key !== "ArrowRight" && event.key !== "ArrowLeft") return;
    const next = tabs[(tabs.indexOf(tab) + 1) % 2]!;
    onTab(next);
    document.getElementById(`${tabsId}-${next}`)?.focus();
  };
  return (
    <>
      <div className="row period-nav" role="group" aria-label="Period">
        <button type="button" className="secondary" onClick={() => onPeriod(addMonths(period, -1))}>
          ← {periodName(addMonths(period, -1))}
        </button>
        <strong className="period-name">{periodName(period)}</strong>
        <button type="button" className="secondary" onClick={() => onPeriod(addMonths(period, 1))}>
          {periodName(addMonths(period, 1))} →
        </button>
      </div>
      {window.isError ? <ErrorText error={window.error} /> : null}
      {window.data ? (
        <p className={`banner banner-${window.data.state}`} aria-label="Reporting window">
          {windowBanner(period, window.data)}
        </p>
      ) : null}
      <div role="tablist" aria-label="Usage level" className="tabs" onKeyDown={onKey}>
        {tabs.map((k) => (
          <button
            key={k}
            type="button"
            role="tab"
            id={`${tabsId}-${k}`}
            aria-selected={tab === k}
            aria-controls={`${tabsId}-${k}-panel`}
            tabIndex={tab === k ? 0 : -1}
            onClick={() => onTab(k)}
          >
            {KINDS[k].tab}
          </button>
        ))}
      </div>
      <section role="tabpanel" id={`${tabsId}-${tab}-panel`} aria-labelledby={`${tabsId}-${tab}`}>
        <UsagePanel key={tab} period={period} kind={tab} window={window.data} />
      </section>
      <Uploads period={period} />
    </>
  );
}

function UsagePanel({ period, kind, window }: { period: string; kind: Kind; window: Window | undefined }) {
  const client = useQueryClient();
  const usage = useQuery({ queryKey: ["usage", period, kind], queryFn: () => fetchUsage(period, kind) });
  const [search, setSearch] = useState("");
  const deferred = useDeferredValue(search.trim().toLowerCase());
  const [editing, setEditing] = useState(false);
  const [edits, setEdits] = useState<Map<string, string>>(() => new Map());
  const [refused, setRefused] = useState<Map<string, string>>(() => new Map());
  const [confirming, setConfirming] = useState<Change[] | null>(null);
  const [outcome, setOutcome] = useState<string | null>(null);
  const [activeUpload, setActiveUpload] = useState<string | null>(null);
  const virtualizer = useRef<Virtualizer<HTMLDivElement, Element> | null>(null);
  const fileInput = useRef<HTMLInputElement>(null);
  const rows = useMemo(() => usage.data?.rows ?? [], [usage.data]);
  const shown = useMemo(() => (deferred ? rows.filter((r) => r.search.includes(deferred)) : rows), [rows, deferred]);
  const byKey = useMemo(() => new Map(rows.map((r) => [r.key, r])), [rows]);
  const { changes, invalid } = useMemo(
    () => diffUsage(rows, (r) => r.key, (r) => r.label, (r) => r.usage, edits),
    [rows, edits],
  );
  const open = window?.state === "open";
  const columns = KINDS[kind].columns;

  const save = useMutation({
    mutationFn: async (list: Change[]) => {
      if (list.length > PUT_LIMIT) {
        const lines = list.map((c) => {
          const a = byKey.get(c.key)!.address;
          const keys = kind === "segments" ? [a.segment_id!, a.destination_id!] : [a.provider_name!, a.feed_name!, a.use_case!];
          return [...keys, c.after];
        });
        const id = await uploadFile(period, kind, new Blob([toCsv(KINDS[kind].csvHeader, lines)], { type: "text/csv" }));
        return { upload: id } as const;
      }
      const body = list.map((c) => ({ ...byKey.get(c.key)!.address, usage: c.after }));
      const result =
        kind === "segments"
          ? await call(api.PUT("/v1/usage/{period}/segments", { params: { path: { period } }, body: { rows: body as Schemas["SegmentUsageRowIn"][] } }))
          : await call(api.PUT("/v1/usage/{period}/feeds", { params: { path: { period } }, body: { rows: body as Schemas["FeedUsageRowIn"][] } }));
      return { result } as const;
    },
    onSuccess: (done, list) => {
      setConfirming(null);
      setEdits(new Map());
      setRefused(new Map());
      setEditing(false);
      if ("upload" in done && done.upload) {
        setActiveUpload(done.upload);
        setOutcome(`${list.length.toLocaleString("en-US")} changes sent as one CSV file; its outcome is below.`);
      } else if ("result" in done && done.result) {
        const n = done.result.updated;
        setOutcome(`Saved: ${n.toLocaleString("en-US")} ${n === 1 ? "value" : "values"} changed.`);
      }
      void client.invalidateQueries({ queryKey: ["usage", period, kind] });
    },
    onError: (error, list) => {
      setConfirming(null);
      if (error instanceof ApiError) {
        const perRow = new Map<string, string>();
        for (const d of error.details) {
          const change = typeof d.row === "number" ? list[d.row] : undefined;
          if (change) perRow.set(change.key, d.message ?? d.code ?? "Refused.");
        }
        setRefused(perRow);
        const first = list.findIndex((c) => perRow.has(c.key));
        if (first >= 0) {
          setSearch("");
          const at = rows.findIndex((r) => r.key === list[first]!.key);
          requestAnimationFrame(() => virtualizer.current?.scrollToIndex(at, { align: "center" }));
        }
      }
    },
  });

  const upload = useMutation({
    mutationFn: (file: File) => uploadFile(period, kind, file),
    onSuccess: (id) => setActiveUpload(id),
  });

  const download = useMutation({
    mutationFn: async () => saveFile(await downloadText(`/v1/usage/${period}/${kind}.csv`, "text/csv"), `usage-${kind}-${period}.csv`),
  });

  const setEdit = (key: string, text: string) => {
    setEdits((current) => new Map(current).set(key, text));
    if (refused.has(key)) setRefused((current) => { const next = new Map(current); next.delete(key); return next; });
  };

  /** Enter / ↓ / ↑ in a Usage cell move to the next / previous row, scrolling it into view. */
  const move = (event: KeyboardEvent<HTMLInputElement>, index: number) => {
    const step = event.key === "ArrowUp" ? -1 : event.key === "ArrowDown" || event.key === "Enter" ? 1 : 0;
    if (!step) return;
    event.preventDefault();
    const target = index + step;
    if (target < 0 || target >= shown.length) return;
    virtualizer.current?.scrollToIndex(target);
    const focus = (tries: number) => {
      const input = document.querySelector<HTMLInputElement>(`[data-usage-index="${target}"]`);
      if (input) input.focus();
      else if (tries > 0) requestAnimationFrame(() => focus(tries - 1));
    };
    requestAnimationFrame(() => focus(5));
  };

  const errorOf = (row: UsageRow): string | undefined => {
    const text = edits.get(row.key);
    if (text !== undefined) {
      const parsed = parseWholeNumber(text);
      if (!parsed.ok) return parsed.message;
      if (parsed.value === null && row.usage !== null) return "Usage cannot be removed once reported: enter 0 instead.";
    }
    return refused.get(row.key);
  };

  const searchId = useId();
  return (
    <>
      <div className="toolbar row">
        <div className="field search">
          <label htmlFor={searchId}>Search</label>
          <input id={searchId} type="search" value={search} onChange={(e) => setSearch(e.target.value)} placeholder={`${columns.join(", ").toLowerCase()}…`} />
        </div>
        {editing ? (
          <>
            <button type="button" onClick={() => (changes.length ? setConfirming(changes) : undefined)} disabled={changes.length === 0 || invalid.length > 0 || save.isPending}>
              Save
            </button>
            <button
              type="button"
              className="secondary"
              onClick={() => {
                setEditing(false);
                setEdits(new Map());
                setRefused(new Map());
              }}
            >
              Cancel editing
            </button>
            <span className="muted" role="status" aria-live="polite">
              {invalid.length
                ? `${invalid.length} ${invalid.length === 1 ? "value needs" : "values need"} fixing before saving.`
                : `${changes.length.toLocaleString("en-US")} ${changes.length === 1 ? "change" : "changes"}.`}
            </span>
          </>
        ) : (
          <button type="button" onClick={() => { setOutcome(null); setEditing(true); }} disabled={!open || !usage.data || rows.length === 0}>
            Edit
          </button>
        )}
        <button type="button" className="secondary" onClick={() => download.mutate()} disabled={download.isPending}>
          Download current usage
        </button>
        <button type="button" className="secondary" onClick={() => fileInput.current?.click()} disabled={!open || upload.isPending}>
          Upload CSV
        </button>
        <input
          ref={fileInput}
          type="file"
          accept=".csv,text/csv"
          hidden
          aria-label="CSV file to upload"
          onChange={(e) => {
            const file = e.target.files?.[0];
            e.target.value = "";
            if (file) upload.mutate(file);
          }}
        />
      </div>
      {!open && window ? <p className="muted">Editing and uploads are possible while the reporting window is open.</p> : null}
      <ErrorText error={download.error} />
      <ErrorText error={upload.error} />
      {save.error ? (
        <ErrorText
          error={
            save.error instanceof ApiError && refused.size > 0
              ? new ApiError(save.error.status, save.error.code, `${save.error.message} The refused rows are marked below.`)
              : save.error
          }
        />
      ) : null}
      {outcome ? <p role="status" className="ok">{outcome}</p> : null}
      {activeUpload ? <ActiveUpload id={activeUpload} period={period} kind={kind} /> : null}
      <QueryView
        query={usage}
        what="usage"
        isEmpty={(d) => d.rows.length === 0}
        empty={
          kind === "segments"
            ? "Nothing to report: map segments to your destinations first (Channels or Marketplace)."
            : "Nothing to report: subscribe to a data feed's CPM plan first (Marketplace)."
        }
      >
        {() => (
          <>
            <p className="muted" aria-live="polite">
              {shown.length === rows.length
                ? `${rows.length.toLocaleString("en-US")} rows`
                : `${shown.length.toLocaleString("en-US")} of ${rows.length.toLocaleString("en-US")} rows match “${search.trim()}”`}
            </p>
            {shown.length === 0 ? (
              <Empty>No row matches “{search.trim()}”.</Empty>
            ) : (
              <VirtualTable
                label={`${KINDS[kind].tab} for ${periodName(period)}`}
                rows={shown}
                rowKey={(r) => r.key}
                columns={columns.length + 1}
                virtualizerRef={virtualizer}
                header={
                  <tr aria-rowindex={1}>
                    {columns.map((c) => (
                      <th scope="col" key={c}>
                        {c}
                      </th>
                    ))}
                    <th scope="col" className="num usage-col">
                      Usage
                    </th>
                  </tr>
                }
                renderRow={(row, index, measure) => {
                  const error = errorOf(row);
                  const text = edits.get(row.key);
                  return (
                    <tr key={row.key} {...measure} className={error ? "refused" : text !== undefined ? "edited" : undefined}>
                      {row.cells.map((c, i) => (
                        <td key={i}>
                          {c}
                          {i === row.cells.length - 1 && row.note ? <span className="badge">{row.note}</span> : null}
                        </td>
                      ))}
                      <td className="num usage-col">
                        {editing ? (
                          <>
                            <input
                              className="usage-input"
                              inputMode="numeric"
                              autoComplete="off"
                              aria-label={`Usage of ${row.label}`}
                              aria-invalid={Boolean(error)}
                              aria-describedby={error ? `err-${index}` : undefined}
                              data-usage-index={index}
                              value={text ?? formatUsage(row.usage)}
                              onChange={(e) => setEdit(row.key, e.target.value)}
                              onKeyDown={(e) => move(e, index)}
                            />
                            {error ? (
                              <span className="error cell-error" id={`err-${index}`}>
                                {error}
                              </span>
                            ) : null}
                          </>
                        ) : (
                          <>
                            {row.usage == null ? <span className="muted">not reported</span> : formatUsage(row.usage)}
                            {error ? <span className="error cell-error">{error}</span> : null}
                          </>
                        )}
                      </td>
                    </tr>
                  );
                }}
              />
            )}
          </>
        )}
      </QueryView>
      {confirming ? (
        <ConfirmDialog
          changes={confirming}
          period={period}
          pending={save.isPending}
          onCancel={() => setConfirming(null)}
          onConfirm={() => save.mutate(confirming)}
        />
      ) : null}
    </>
  );
}

/** A presigned upload: ask the API for the URL, PUT the file to the usage bucket; the API checks it at once. */
async function uploadFile(period: string, kind: Kind, file: Blob): Promise<string> {
  const ticket = await call(api.POST("/v1/usage/{period}/uploads", { params: { path: { period } }, body: { kind } }));
  let reply: Response;
  try {
    reply = await fetch(ticket.upload_url, { method: "PUT", body: file, headers: { "Content-Type": "text/csv" } });
  } catch {
    throw new ApiError(0, "network_error", "The file could not be sent to storage. Check your connection and retry.");
  }
  if (!reply.ok) throw new ApiError(reply.status, "upload_failed", `Storage refused the file (HTTP ${reply.status}); request a new upload and retry.`);
  return ticket.upload_id;
}

export function ConfirmDialog({
  changes,
  period,
  pending,
  onCancel,
  onConfirm,
}: {
  changes: Change[];
  period: string;
  pending: boolean;
  onCancel: () => void;
  onConfirm: () => void;
}) {
  return (
    <ConfirmModal
      title={`Confirm ${changes.length.toLocaleString("en-US")} ${changes.length === 1 ? "change" : "changes"} to ${periodName(period)} usage`}
      confirmLabel="Confirm"
      pendingLabel="Saving…"
      cancelLabel="Keep editing"
      pending={pending}
      onCancel={onCancel}
      onConfirm={onConfirm}
    >
      <VirtualTable
        label="Changes to confirm"
        rows={changes}
        rowKey={(c) => c.key}
        columns={3}
        height={320}
        header={
          <tr aria-rowindex={1}>
            <th scope="col">Row</th>
            <th scope="col" className="num">
              Before
            </th>
            <th scope="col" className="num">
              After
            </th>
          </tr>
        }
        renderRow={(c, _i, measure) => (
          <tr key={c.key} {...measure}>
            <td>{c.label}</td>
            <td className="num">{c.before == null ? "not reported" : formatUsage(c.before)}</td>
            <td className="num">{formatUsage(c.after)}</td>
          </tr>
        )}
      />
      {changes.length > PUT_LIMIT ? (
        <p className="muted">More than {PUT_LIMIT.toLocaleString("en-US")} changes go as one CSV file, accepted or rejected as a whole.</p>
      ) : null}
    </ConfirmModal>
  );
}

const TERMINAL = new Set(["accepted", "rejected", "duplicate"]);

export function useUpload(id: string) {
  return useQuery({
    queryKey: ["upload", id],
    queryFn: () => call(api.GET("/v1/usage/uploads/{upload_id}", { params: { path: { upload_id: id } } })),
    refetchInterval: (query) => (query.state.data && TERMINAL.has(query.state.data.status) ? false : 1000),
  });
}

function ActiveUpload({ id, period, kind }: { id: string; period: string; kind: Kind }) {
  const client = useQueryClient();
  const upload = useUpload(id);
  const status = upload.data?.status;
  useEffect(() => {
    if (status && TERMINAL.has(status)) {
      void client.invalidateQueries({ queryKey: ["uploads", period] });
      if (status === "accepted") void client.invalidateQueries({ queryKey: ["usage", period, kind] });
    }
  }, [status, client, period, kind]);
  return (
    <section className="card" aria-label="Upload outcome">
      <QueryView query={upload} what="the upload">
        {(u) => <UploadOutcome upload={u} />}
      </QueryView>
    </section>
  );
}

export function UploadOutcome({ upload }: { upload: Schemas["UploadView"] }) {
  if (upload.status === "pending") {
    return (
      <p role="status" aria-live="polite">
        Checking the file (upload <code>{upload.upload_id}</code>)…
      </p>
    );
  }
  if (upload.status === "accepted") {
    return (
      <p role="status" className="ok">
        Accepted: {upload.rows.toLocaleString("en-US")} rows, {upload.changed.toLocaleString("en-US")} changed (upload <Link to={`/payables/uploads/${upload.upload_id}`}>{upload.upload_id}</Link>).
      </p>
    );
  }
  if (upload.status === "duplicate") {
    return (
      <p role="status">
        This file was already uploaded{upload.duplicate_of ? <> as <Link to={`/payables/uploads/${upload.duplicate_of}`}>{upload.duplicate_of}</Link></> : null}: nothing changed.
      </p>
    );
  }
  return (
    <>
      <p role="alert" className="error">
        Rejected: nothing was saved. {upload.errors.length} {upload.errors.length === 1 ? "problem" : "problems"} to fix (upload{" "}
        <Link to={`/payables/uploads/${upload.upload_id}`}>{upload.upload_id}</Link>):
      </p>
      <VirtualTable
        label="Problems in the file"
        rows={upload.errors}
        rowKey={(e) => `${e.line}:${e.code}:${e.message}`}
        columns={3}
        height={320}
        header={
          <tr aria-rowindex={1}>
            <th scope="col" className="num">
              Line
            </th>
            <th scope="col">Code</th>
            <th scope="col">Message</th>
          </tr>
        }
        renderRow={(e, _i, measure) => (
          <tr key={`${e.line}:${e.code}:${e.message}`} {...measure}>
            <td className="num">{e.line === 0 ? "file" : e.line}</td>
            <td>
              <code>{e.code}</code>
            </td>
            <td>{e.message}</td>
          </tr>
        )}
      />
    </>
  );
}

function Uploads({ period }: { period: string }) {
  const uploads = useQuery({
    queryKey: ["uploads", period],
    queryFn: () => call(api.GET("/v1/usage/uploads", { params: { query: { period } } })),
    refetchInterval: (query) => (query.state.data?.uploads.some((u) => u.status === "pending") ? 1500 : false),
  });
  return (
    <section aria-labelledby="uploads-title">
      <h2 id="uploads-title">Uploaded files for {periodName(period)}</h2>
      <QueryView query={uploads} what="uploads" isEmpty={(d) => d.uploads.length === 0} empty="No file uploaded for this period.">
        {(d) => (
          <table>
            <thead>
              <tr>
                <th scope="col">Received</th>
                <th scope="col">Level</th>
                <th scope="col">Status</th>
                <th scope="col" className="num">Rows</th>
                <th scope="col" className="num">Changed</th>
                <th scope="col" className="num">Problems</th>
                <th scope="col">Upload</th>
              </tr>
            </thead>
            <tbody>
              {[...d.uploads]
                .sort((a, b) => b.created_at.localeCompare(a.created_at))
                .map((u) => (
                  <tr key={u.upload_id}>
                    <td>{(u.received_at ?? u.created_at).replace("T", " ").slice(0, 19)} UTC</td>
                    <td>{u.kind === "feeds" ? "feed" : "segment"}</td>
                    <td>
                      <span className={`status status-${u.status}`}>{u.status}</span>
                    </td>
                    <td className="num">{u.rows.toLocaleString("en-US")}</td>
                    <td className="num">{u.changed.toLocaleString("en-US")}</td>
                    <td className="num">{u.errors.length}</td>
                    <td>
                      <Link to={`/payables/uploads/${u.upload_id}`}>{u.upload_id}</Link>
                    </td>
                  </tr>
                ))}
            </tbody>
          </table>
        )}
      </QueryView>
    </section>
  );
}
