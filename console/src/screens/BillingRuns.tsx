import { useMutation, useQueries, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { Link, useNavigate, useParams } from "react-router-dom";
import { api, ApiError, call, type Schemas } from "../api/client";
import { ErrorText, Field, fieldError, Loading, QueryView } from "../ui";
import { addMonths, isPeriod, periodName } from "../usage";
import { when } from "./Period";

type Run = Schemas["RunView"];

/** A period's run, or null when the period was never closed (404). */
async function runOf(period: string): Promise<Run | null> {
  try {
    return await call(api.GET("/v1/admin/billing-runs/{period}", { params: { path: { period } } }));
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) return null;
    throw error;
  }
}

function RunStatus({ run }: { run: Run }) {
  const failed = run.failed_jobs.length;
  return (
    <span className={`status status-${failed ? "failed" : run.status}`}>
      {run.status}
      {failed ? `, ${failed} failed ${failed === 1 ? "job" : "jobs"}` : ""}
    </span>
  );
}

/**
 * Billing runs per period. The API reads one period's run at a time, so the list asks for each of the
 * months shown (twelve, more on request) and leaves out those never closed.
 */
export default function BillingRuns() {
  const [months, setMonths] = useState(12);
  const start = new Date().toISOString().slice(0, 7);
  const periods = Array.from({ length: months }, (_, i) => addMonths(start, -i));
  const runs = useQueries({
    queries: periods.map((period) => ({
      queryKey: ["billing-run", period],
      queryFn: () => runOf(period),
      refetchInterval: (q: { state: { data?: Run | null } }) => (q.state.data?.status === "running" ? 2000 : false),
    })),
  });
  const loading = runs.some((r) => r.isPending);
  const failed = runs.find((r) => r.isError);
  const found = runs.map((r, i) => ({ period: periods[i]!, run: r.data })).filter((x): x is { period: string; run: Run } => Boolean(x.run));
  return (
    <>
      <h1>Billing runs</h1>
      <p className="lead">The monthly close: at 00:00 UTC on the 6th, one invoice per buyer, then one payout per provider. Runs can be started by hand for a period whose reporting window has ended.</p>
      <CloseForm />
      <h2>Runs from {periodName(periods.at(-1)!)} to {periodName(periods[0]!)}</h2>
      {failed ? <ErrorText error={failed.error} /> : null}
      {loading ? <Loading what="billing runs" /> : null}
      {!loading && found.length === 0 ? <p className="empty">No period of these months was closed.</p> : null}
      {found.length ? (
        <table aria-label="Billing runs">
          <thead>
            <tr>
              <th scope="col">Period</th>
              <th scope="col">Status</th>
              <th scope="col">Trigger</th>
              <th scope="col" className="num">Invoices</th>
              <th scope="col" className="num">Payouts</th>
              <th scope="col" className="num">Invoiced</th>
              <th scope="col">Completed</th>
            </tr>
          </thead>
          <tbody>
            {found.map(({ period, run }) => (
              <tr key={period}>
                <td>
                  <Link to={`/billing-runs/${period}`}>{periodName(period)}</Link>
                </td>
                <td>
                  <RunStatus run={run} />
                </td>
                <td>{run.trigger}</td>
                <td className="num">
                  {run.invoices} / {run.expected_invoices}
                </td>
                <td className="num">
                  {run.payouts} / {run.expected_payouts ?? "…"}
                </td>
                <td className="num">{run.totals ? `${run.totals.invoiced} ${run.currency}` : "—"}</td>
                <td>{when(run.completed_at)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      <button type="button" className="secondary" onClick={() => setMonths(months + 12)}>
        Show twelve earlier months
      </button>
    </>
  );
}

function CloseForm() {
  const client = useQueryClient();
  const navigate = useNavigate();
  const [period, setPeriod] = useState("");
  const [armed, setArmed] = useState(false);
  const valid = isPeriod(period.trim());
  const close = useMutation({
    mutationFn: () => call(api.POST("/v1/admin/billing-runs", { body: { period: period.trim() } })),
    onSuccess: (run) => {
      client.setQueryData(["billing-run", run.period], run);
      navigate(`/billing-runs/${run.period}`);
    },
    onSettled: () => setArmed(false),
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (!valid) return;
    if (!armed) setArmed(true);
    else close.mutate();
  };
  return (
    <form className="card" onSubmit={submit} noValidate aria-labelledby="close-title">
      <h2 id="close-title">Close a period by hand</h2>
      <Field
        label="Period to close (YYYY-MM)"
        error={period && !valid ? "Write the period as YYYY-MM, e.g. 2026-10." : fieldError(close.error, "period")}
        hint="The same close as the schedule's; a period already closed keeps its run."
      >
        {(props) => <input {...props} value={period} onChange={(e) => { setPeriod(e.target.value); setArmed(false); }} />}
      </Field>
      {armed ? (
        <p role="alert">
          Close {periodName(period.trim())}? Its usage is frozen for good, invoices and payouts are issued.
        </p>
      ) : null}
      <div className="row">
        <button type="submit" disabled={!valid || close.isPending}>
          {armed ? `Confirm close of ${period.trim()}` : "Close period"}
        </button>
        {armed ? (
          <button type="button" className="secondary" onClick={() => setArmed(false)}>
            Cancel
          </button>
        ) : null}
      </div>
      {close.error && !fieldError(close.error, "period") ? <ErrorText error={close.error} /> : null}
    </form>
  );
}

export function BillingRunDetail() {
  const { period = "" } = useParams();
  const run = useQuery({
    queryKey: ["billing-run", period],
    queryFn: () => runOf(period),
    refetchInterval: (q) => (q.state.data?.status === "running" ? 2000 : false),
  });
  return (
    <>
      <h1>Billing run {isPeriod(period) ? periodName(period) : period}</h1>
      <QueryView query={run} what="the billing run" isEmpty={(r) => r === null} empty={`${period} was never closed: no billing run.`}>
        {(r) =>
          r ? (
            <>
              <p>
                <span aria-label="Run status">
                  <RunStatus run={r} />
                </span>{" "}
                <span className="muted">
                  · <code>{r.run_id}</code> · {r.trigger} · period {r.period_state.toLowerCase()}
                </span>
              </p>
              <dl className="facts">
                <dt>Started</dt>
                <dd>{when(r.created_at)}</dd>
                <dt>Completed</dt>
                <dd>{when(r.completed_at)}</dd>
                <dt>Invoices</dt>
                <dd>
                  {r.invoices} of {r.expected_invoices} buyers
                  {r.buyers_without_charges ? ` (${r.buyers_without_charges} charged nothing: no invoice)` : ""} ·{" "}
                  <Link to={`/invoices?period=${r.period}`}>see the invoices</Link>
                </dd>
                <dt>Payouts</dt>
                <dd>
                  {r.payouts} of {r.expected_payouts ?? "…"} providers · <Link to={`/payouts?period=${r.period}`}>see the payouts</Link>
                </dd>
                {r.totals ? (
                  <>
                    <dt>Invoiced</dt>
                    <dd>
                      {r.totals.invoiced} {r.currency}
                    </dd>
                    <dt>Paid out</dt>
                    <dd>
                      {r.totals.paid_out} {r.currency}
                    </dd>
                    <dt>Platform fees</dt>
                    <dd>
                      {r.totals.platform_fees} {r.currency}
                    </dd>
                    <dt>Balanced</dt>
                    <dd>{r.totals.balanced ? "yes: invoiced = paid out + platform fees" : "NO: invoiced ≠ paid out + platform fees"}</dd>
                  </>
                ) : null}
              </dl>
              <h2>Failed jobs</h2>
              {r.failed_jobs.length === 0 ? (
                <p className="empty">None.</p>
              ) : (
                <table aria-label="Failed jobs">
                  <thead>
                    <tr>
                      <th scope="col">Job</th>
                      <th scope="col">Account</th>
                      <th scope="col" className="num">Attempts</th>
                      <th scope="col">Failed</th>
                      <th scope="col">Error</th>
                    </tr>
                  </thead>
                  <tbody>
                    {r.failed_jobs.map((j) => (
                      <tr key={`${j.kind}:${j.id}`}>
                        <td>{j.kind}</td>
                        <td>
                          <code>{j.id}</code>
                        </td>
                        <td className="num">{j.attempts}</td>
                        <td>{when(j.failed_at)}</td>
                        <td>{j.error}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              )}
            </>
          ) : null
        }
      </QueryView>
    </>
  );
}
