import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { api, call } from "../api/client";
import { CopyButton, ErrorText, Field, fieldError, QueryView } from "../ui";

export default function Keys() {
  const client = useQueryClient();
  const keys = useQuery({ queryKey: ["keys"], queryFn: () => call(api.GET("/v1/api-keys")) });
  const [name, setName] = useState("");
  const create = useMutation({
    mutationFn: () => call(api.POST("/v1/api-keys", { body: { name } })),
    onSuccess: () => {
      setName("");
      void client.invalidateQueries({ queryKey: ["keys"] });
    },
  });
  const revoke = useMutation({
    mutationFn: (id: string) => call(api.DELETE("/v1/api-keys/{key_id}", { params: { path: { key_id: id } } })),
    onSuccess: () => void client.invalidateQueries({ queryKey: ["keys"] }),
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    create.mutate();
  };
  return (
    <>
      <h1>API keys</h1>
      <p className="lead">Keys give full access to your account. Revoking one takes effect at once.</p>
      <form className="card row" onSubmit={submit} noValidate>
        <Field label="Key name" error={fieldError(create.error, "name")}>
          {(props) => <input {...props} value={name} onChange={(e) => setName(e.target.value)} placeholder="ci pipeline" />}
        </Field>
        <button type="submit" disabled={create.isPending}>
          Create key
        </button>
        <ErrorText error={create.error} />
      </form>
      {create.data ? (
        <div className="notice" role="status">
          <p className="warning">This key is shown once. Copy it now; Audiens stores only a hash.</p>
          <div className="secret">
            <code aria-label="New API key">{create.data.api_key}</code>
            <CopyButton text={create.data.api_key} label="Copy key" />
          </div>
        </div>
      ) : null}
      <QueryView query={keys} what="API keys" isEmpty={(d) => d.api_keys.length === 0} empty="No key.">
        {(d) => (
          <table>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Prefix</th>
                <th scope="col">Created</th>
                <th scope="col">Status</th>
                <th scope="col"><span className="sr-only">Action</span></th>
              </tr>
            </thead>
            <tbody>
              {d.api_keys.map((k) => (
                <tr key={k.key_id}>
                  <td>{k.name}</td>
                  <td>
                    <code>{k.prefix}…</code>
                  </td>
                  <td>{k.created_at.slice(0, 10)}</td>
                  <td>{k.status === "revoked" ? `revoked ${k.revoked_at?.slice(0, 10) ?? ""}` : "active"}</td>
                  <td>
                    {k.status === "active" ? (
                      <button type="button" className="danger" onClick={() => revoke.mutate(k.key_id)} disabled={revoke.isPending}>
                        Revoke {k.name}
                      </button>
                    ) : null}
                    {revoke.variables === k.key_id ? <ErrorText error={revoke.error} /> : null}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </QueryView>
    </>
  );
}
