import { useMutation } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { api, call } from "../api/client";
import { CopyButton, ErrorText, Field, fieldError } from "../ui";

/** The operator creates accounts that are active at once (their first key shown once). */
export default function Accounts() {
  const [company, setCompany] = useState("");
  const [email, setEmail] = useState("");
  const [roles, setRoles] = useState<("provider" | "buyer")[]>(["buyer"]);
  const [share, setShare] = useState("");
  const create = useMutation({
    mutationFn: () =>
      call(api.POST("/v1/admin/accounts", { body: { company_name: company, email, roles, ...(share.trim() ? { revenue_share: share.trim() } : {}) } })),
    onSuccess: () => {
      setCompany("");
      setEmail("");
      setShare("");
    },
  });
  const toggle = (role: "provider" | "buyer") => setRoles(roles.includes(role) ? roles.filter((r) => r !== role) : [...roles, role]);
  const submit = (event: FormEvent) => {
    event.preventDefault();
    create.mutate();
  };
  return (
    <>
      <h1>Accounts</h1>
      <p className="lead">Create an account that is active at once (no activation email); its first API key is shown once.</p>
      <form className="card" onSubmit={submit} noValidate aria-labelledby="new-account">
        <h2 id="new-account">New account</h2>
        <Field label="Company name" error={fieldError(create.error, "company_name")}>
          {(props) => <input {...props} value={company} onChange={(e) => setCompany(e.target.value)} />}
        </Field>
        <Field label="Email" error={fieldError(create.error, "email")}>
          {(props) => <input {...props} type="email" value={email} onChange={(e) => setEmail(e.target.value)} />}
        </Field>
        <fieldset>
          <legend>Roles</legend>
          {(["buyer", "provider"] as const).map((r) => (
            <label key={r} className="inline">
              <input type="checkbox" checked={roles.includes(r)} onChange={() => toggle(r)} /> {r}
            </label>
          ))}
          {fieldError(create.error, "roles") ? <p className="error">{fieldError(create.error, "roles")}</p> : null}
        </fieldset>
        <Field label="Revenue share (providers; empty for the default 0.80)" error={fieldError(create.error, "revenue_share")}>
          {(props) => <input {...props} inputMode="decimal" value={share} onChange={(e) => setShare(e.target.value)} placeholder="0.80" />}
        </Field>
        <button type="submit" disabled={create.isPending}>
          Create account
        </button>
        {create.error && !["company_name", "email", "roles", "revenue_share"].some((f) => fieldError(create.error, f)) ? <ErrorText error={create.error} /> : null}
      </form>
      {create.data ? (
        <section className="card notice" aria-label="Account created">
          <h2>
            Account <code>{create.data.account_id}</code> created ({create.data.roles.join(", ")})
          </h2>
          <p>Give its owner this API key. It is shown once.</p>
          <p>
            <code aria-label="New account API key">{create.data.api_key}</code> <CopyButton text={create.data.api_key} label="Copy key" />
          </p>
        </section>
      ) : null}
    </>
  );
}
