import { keepPreviousData, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { api, ApiError, call, type Schemas } from "../api/client";
import { ErrorText, Field, QueryView } from "../ui";
import { when } from "../screens/Period";
import { ConfirmModal, PdfButton } from "./documents";
import { decimalsOf, fromMinor, toMinor } from "./money";

type Invoice = Schemas["InvoiceResponse"];
type CreditNote = Schemas["CreditNoteResponse"];
type Line = Schemas["InvoiceLineView"];

export const lineItem = (l: Line) => (l.kind === "segment" ? l.segment_name ?? l.segment_id : l.feed_name ?? l.feed_id) ?? "—";

/** Every credit note of the invoice in full (the invoice view lists only their number and total). */
export function useCreditNotes(invoice: Invoice | undefined) {
  const refs = invoice?.credit_notes ?? [];
  return useQuery({
    queryKey: ["invoice-credit-notes", invoice?.invoice_id, refs.map((r) => r.credit_note_id).join(",")],
    enabled: invoice !== undefined,
    placeholderData: keepPreviousData, // the credit form stays (with its outcome) while a new note is read
    queryFn: () =>
      Promise.all(
        refs.map(async (ref) => {
          const note = await call(
            api.GET("/v1/credit-notes/{credit_note_id}", { params: { path: { credit_note_id: ref.credit_note_id } }, headers: { Accept: "application/json" } }),
          );
          if (typeof note === "string") throw new Error(`Credit note ${ref.number} came back as a file instead of JSON.`);
          return note;
        }),
      ),
  });
}

/** What is still creditable on each line, in minor units: its amount less every credit on it. */
export function remainingByLine(invoice: Invoice, notes: CreditNote[]): Map<number, number> {
  const places = decimalsOf(invoice.total);
  const remaining = new Map(invoice.lines.map((l) => [l.line_no, toMinor(l.amount, places) ?? 0]));
  for (const note of notes) {
    for (const line of note.lines) remaining.set(line.invoice_line_no, (remaining.get(line.invoice_line_no) ?? 0) - (toMinor(line.amount, places) ?? 0));
  }
  return remaining;
}

/** The invoice's credit notes with their PDFs, what they credited and what remains creditable. */
export function CreditNotes({ invoice, notes }: { invoice: Invoice; notes: ReturnType<typeof useCreditNotes> }) {
  const places = decimalsOf(invoice.total);
  const credited = toMinor(invoice.credited ?? "0", places) ?? 0;
  const remaining = (toMinor(invoice.total, places) ?? 0) - credited;
  return (
    <section aria-labelledby="credit-notes-title">
      <h2 id="credit-notes-title">Credit notes</h2>
      {invoice.credit_notes?.length ? (
        <QueryView query={notes} what="the credit notes">
          {(list) => (
            <table aria-label="Credit notes">
              <thead>
                <tr>
                  <th scope="col">Number</th>
                  <th scope="col">Issued</th>
                  <th scope="col">Lines</th>
                  <th scope="col" className="num">Amount</th>
                  <th scope="col">Reason</th>
                  <th scope="col">PDF</th>
                </tr>
              </thead>
              <tbody>
                {list.map((n) => (
                  <tr key={n.credit_note_id}>
                    <td className="nowrap">{n.number}</td>
                    <td>{when(n.issued_at)}</td>
                    <td>{n.lines.map((l) => `#${l.invoice_line_no}`).join(", ")}</td>
                    <td className="num">
                      −{n.total} {n.currency}
                    </td>
                    <td>{n.reason}</td>
                    <td>
                      <PdfButton path={`/v1/credit-notes/${encodeURIComponent(n.credit_note_id)}.pdf`} fileName={`${n.number}.pdf`} label="PDF" name={`Download ${n.number} PDF`} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </QueryView>
      ) : (
        <p className="muted">No credit note: nothing has been credited on this invoice.</p>
      )}
      {invoice.status === "issued" ? (
        <dl className="facts">
          <dt>Credited</dt>
          <dd aria-label="Credited">
            {fromMinor(credited, places)} {invoice.currency}
          </dd>
          <dt>Still creditable</dt>
          <dd aria-label="Still creditable">
            {fromMinor(remaining, places)} {invoice.currency}
          </dd>
        </dl>
      ) : null}
    </section>
  );
}

interface Problems {
  byLine: Map<number, string>;
  reason?: string;
  placed: boolean; // some message sits next to a field
}

/** The API's refusal placed next to what caused it: a line's amount (by line_no or lines[i]) or the reason. */
export function placeProblems(error: unknown, sentLines: number[]): Problems {
  const byLine = new Map<number, string>();
  if (!(error instanceof ApiError)) return { byLine, placed: false };
  for (const detail of error.details) {
    const message = detail.message ?? error.message;
    const indexed = /^(?:body\.)?lines\[(\d+)\]/.exec(detail.field ?? "");
    const lineNo = typeof detail.line_no === "number" ? detail.line_no : indexed ? sentLines[Number(indexed[1])] : undefined;
    if (lineNo !== undefined && !byLine.has(lineNo)) byLine.set(lineNo, message);
  }
  const reason = error.forField("reason");
  return { byLine, reason, placed: byLine.size > 0 || reason !== undefined };
}

const newKey = () => (globalThis.crypto?.randomUUID ? globalThis.crypto.randomUUID() : `${Date.now()}-${Math.random().toString(36).slice(2)}`);

/**
 * Operator: issue a credit note on an issued invoice, in full or for chosen lines and amounts, with a reason,
 * after a confirmation. The invoice never changes; a refusal (more than remains, a draft or void invoice)
 * is shown next to the line or the button and nothing is credited.
 */
export function CreditNoteForm({ invoice, remaining }: { invoice: Invoice; remaining: Map<number, number> }) {
  const client = useQueryClient();
  const places = decimalsOf(invoice.total);
  const cur = invoice.currency;
  const [open, setOpen] = useState(false); // the detail shows the form only when asked: it sits beside the void form
  const [full, setFull] = useState(false);
  const [amounts, setAmounts] = useState<Record<number, string>>({});
  const [reason, setReason] = useState("");
  const [checked, setChecked] = useState(false);
  const [confirming, setConfirming] = useState(false);
  const [key, setKey] = useState(newKey); // one per credit note: a retry after a lost answer cannot credit twice
  const [sent, setSent] = useState<number[]>([]);
  const [issued, setIssued] = useState<CreditNote | null>(null);
  const totalRemaining = [...remaining.values()].reduce((a, b) => a + b, 0);

  const typed = invoice.lines.filter((l) => (amounts[l.line_no] ?? "").trim() !== "");
  const localError = (lineNo: number): string | undefined => {
    const text = (amounts[lineNo] ?? "").trim();
    if (!text) return undefined;
    const minor = toMinor(text, places);
    if (minor === null) return `Write an amount like ${fromMinor(10 * 10 ** places, places)}${places ? `, with at most ${places} decimals` : ", without decimals"}.`;
    if (minor <= 0) return "The amount must be more than zero.";
    return undefined;
  };
  const invalid = !full && (typed.length === 0 || typed.some((l) => localError(l.line_no)));
  const wanted: { line: Line; minor: number }[] = full
    ? invoice.lines.filter((l) => (remaining.get(l.line_no) ?? 0) > 0).map((line) => ({ line, minor: remaining.get(line.line_no) ?? 0 }))
    : typed.map((line) => ({ line, minor: toMinor(amounts[line.line_no]!, places) ?? 0 }));
  const total = wanted.reduce((a, w) => a + w.minor, 0);

  const credit = useMutation({
    mutationFn: (body: Schemas["CreditNoteRequest"]) =>
      call(
        api.POST("/v1/invoices/{invoice_id}/credit-notes", {
          params: { path: { invoice_id: invoice.invoice_id }, header: { "Idempotency-Key": key } },
          body,
        }),
      ),
    onSuccess: (note) => {
      setIssued(note);
      setAmounts({});
      setReason("");
      setFull(false);
      setChecked(false);
      setKey(newKey());
      void client.invalidateQueries({ queryKey: ["invoice", invoice.invoice_id] });
      void client.invalidateQueries({ queryKey: ["invoices"] });
    },
    onSettled: () => setConfirming(false),
  });
  const problems = placeProblems(credit.error, sent);
  const edited = () => {
    setIssued(null);
    setChecked(false);
    setKey(newKey()); // another body: a key is never reused for a different request
    if (credit.error) credit.reset();
  };

  const submit = (event: FormEvent) => {
    event.preventDefault();
    setChecked(true);
    if (invalid || !reason.trim()) return;
    setConfirming(true);
  };
  const confirm = () => {
    const lines = full ? [] : wanted.map((w) => ({ line_no: w.line.line_no, amount: fromMinor(w.minor, places) }));
    setSent(lines.map((l) => l.line_no));
    credit.mutate(full ? { reason: reason.trim(), full: true } : { reason: reason.trim(), full: false, lines });
  };

  if (!open) {
    return (
      <section className="card" aria-labelledby="credit-title">
        <h2 id="credit-title">Issue a credit note</h2>
        <p className="muted">Credit some lines or everything that remains ({fromMinor(totalRemaining, places)} {cur}); the invoice itself never changes.</p>
        <button type="button" className="secondary" disabled={totalRemaining <= 0} onClick={() => setOpen(true)}>
          Credit this invoice…
        </button>
      </section>
    );
  }
  return (
    <form className="card" onSubmit={submit} aria-labelledby="credit-title" noValidate>
      <h2 id="credit-title">Issue a credit note</h2>
      <p className="muted">
        The invoice stays as issued; the credit note gets its own number and PDF, and the providers' payouts of this month's close carry the adjustment.
      </p>
      <fieldset>
        <legend>What to credit</legend>
        <label className="inline">
          <input type="radio" name="credit-mode" checked={!full} onChange={() => { setFull(false); edited(); }} /> Chosen lines and amounts
        </label>
        <label className="inline">
          <input type="radio" name="credit-mode" checked={full} disabled={totalRemaining <= 0} onChange={() => { setFull(true); edited(); }} /> Everything still creditable (
          {fromMinor(totalRemaining, places)} {cur})
        </label>
      </fieldset>
      {!full ? (
        <div className="scroll">
          <table aria-label="Lines to credit">
            <thead>
              <tr>
                <th scope="col" className="num">#</th>
                <th scope="col">Feed or segment</th>
                <th scope="col">Use case</th>
                <th scope="col" className="num">Amount</th>
                <th scope="col" className="num">Creditable</th>
                <th scope="col" className="usage-col">Credit now ({cur})</th>
              </tr>
            </thead>
            <tbody>
              {invoice.lines.map((l) => {
                const left = remaining.get(l.line_no) ?? 0;
                const error = (checked ? localError(l.line_no) : undefined) ?? problems.byLine.get(l.line_no);
                const errorId = `credit-line-${l.line_no}-error`;
                return (
                  <tr key={l.line_no} className={error ? "refused" : undefined}>
                    <td className="num">{l.line_no}</td>
                    <td>{lineItem(l)}</td>
                    <td>{l.use_case.replace(/_/g, " ")}</td>
                    <td className="num">{l.amount}</td>
                    <td className="num">{fromMinor(left, places)}</td>
                    <td>
                      <input
                        className="usage-input"
                        inputMode="decimal"
                        aria-label={`Credit on line ${l.line_no}`}
                        aria-invalid={Boolean(error)}
                        aria-describedby={error ? errorId : undefined}
                        disabled={left <= 0}
                        placeholder={left > 0 ? `up to ${fromMinor(left, places)}` : "credited in full"}
                        value={amounts[l.line_no] ?? ""}
                        onChange={(e) => {
                          setAmounts((a) => ({ ...a, [l.line_no]: e.target.value }));
                          edited();
                        }}
                      />
                      {error ? (
                        <span className="error cell-error" id={errorId} role="alert">
                          {error}
                        </span>
                      ) : null}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      ) : null}
      <Field label="Reason" error={problems.reason ?? (checked && !reason.trim() ? "Say why the invoice is credited: the buyer reads it on the credit note." : undefined)} hint="Printed on the credit note the buyer receives.">
        {(props) => <textarea {...props} rows={2} maxLength={500} value={reason} onChange={(e) => { setReason(e.target.value); edited(); }} />}
      </Field>
      <div className="row">
        <button type="submit" disabled={credit.isPending}>
          Issue credit note
        </button>
        <button type="button" className="secondary" disabled={credit.isPending} onClick={() => setOpen(false)}>
          Close
        </button>
        <span className="muted">
          {wanted.length ? `${wanted.length} ${wanted.length === 1 ? "line" : "lines"}, ${fromMinor(total, places)} ${cur}` : "No amount entered yet."}
        </span>
      </div>
      {checked && !full && typed.length === 0 ? <p className="error" role="alert">Enter an amount on at least one line, or credit everything.</p> : null}
      {credit.error && !problems.placed ? <ErrorText error={credit.error} /> : null}
      {credit.error && problems.placed ? <p className="error">Nothing was credited: correct the amounts marked above.</p> : null}
      {issued ? (
        <p role="status">
          Credit note {issued.number} issued: −{issued.total} {issued.currency}.
        </p>
      ) : null}
      {confirming ? (
        <ConfirmModal
          title={`Credit ${fromMinor(total, places)} ${cur} on invoice ${invoice.number ?? invoice.invoice_id}?`}
          confirmLabel="Confirm credit note"
          pending={credit.isPending}
          onCancel={() => setConfirming(false)}
          onConfirm={confirm}
        >
          <p>
            {invoice.buyer_name} receives a credit note with its own number and PDF by email. It cannot be undone; a later correction is another credit note.
          </p>
          <table aria-label="Credit to confirm">
            <thead>
              <tr>
                <th scope="col" className="num">#</th>
                <th scope="col">Feed or segment</th>
                <th scope="col" className="num">Credit</th>
              </tr>
            </thead>
            <tbody>
              {wanted.map((w) => (
                <tr key={w.line.line_no}>
                  <td className="num">{w.line.line_no}</td>
                  <td>{lineItem(w.line)}</td>
                  <td className="num">
                    {fromMinor(w.minor, places)} {cur}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <p>Reason: {reason.trim()}</p>
        </ConfirmModal>
      ) : null}
    </form>
  );
}
