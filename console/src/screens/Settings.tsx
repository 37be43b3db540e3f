import { useMutation, useQueryClient } from "@tanstack/react-query";
import { api, call, type Schemas } from "../api/client";
import { useAuth } from "../auth";
import { ErrorText } from "../ui";

/** The account as the API knows it, and the settings the account may change itself (PATCH /v1/me). */
export default function Settings() {
  const { me, key } = useAuth();
  const client = useQueryClient();
  const reminders = useMutation({
    mutationFn: (on: boolean) => call(api.PATCH("/v1/me", { body: { usage_reminders: on } })),
    onSuccess: (data) => client.setQueryData<Schemas["MeResponse"]>(["me", key], data),
  });
  if (!me) return null;
  const buyer = me.roles.includes("buyer");
  // While a change is on its way the box shows it; on a refusal it goes back to what the API holds.
  const on = reminders.isPending ? reminders.variables : me.usage_reminders ?? true;
  return (
    <>
      <h1>Settings</h1>
      <dl className="facts">
        <dt>Company</dt>
        <dd>{me.company_name}</dd>
        <dt>Email</dt>
        <dd>{me.email}</dd>
        <dt>Roles</dt>
        <dd>{me.roles.join(", ")}</dd>
        <dt>Account id</dt>
        <dd>
          <code>{me.account_id}</code>
        </dd>
      </dl>
      {buyer ? (
        <section className="card" aria-labelledby="reminders-title">
          <h2 id="reminders-title">Emails</h2>
          <label className="inline">
            <input
              type="checkbox"
              checked={on}
              disabled={reminders.isPending}
              aria-describedby="reminders-hint"
              onChange={(e) => reminders.mutate(e.target.checked)}
            />{" "}
            Usage reminders
          </label>
          <p className="hint" id="reminders-hint">
            On the 1st, when a month's usage can be reported, and on the 4th if nothing is reported yet. Invoices and credit notes are emailed whatever this says.
          </p>
          {reminders.isSuccess && !reminders.isPending ? (
            <p role="status">{reminders.data.usage_reminders ? "Usage reminders are on." : "Usage reminders are off: you will not be reminded to report usage."}</p>
          ) : null}
          <ErrorText error={reminders.error} />
        </section>
      ) : null}
    </>
  );
}
