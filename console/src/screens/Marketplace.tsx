import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { api, ApiError, call, type Schemas } from "../api/client";
import { Empty, ErrorText, Field, fieldError, QueryView } from "../ui";
import { useTraits } from "./Traits";

const USE_CASES = ["segments_and_overlap", "modeling", "activation", "content_optimization"] as const;
type PlanDraft = { use_cases: string[]; unit: "cpm" | "flat_fee"; price: string };

/** The API's messages about plan `index` (details with field plans.<index>.…), shown on that plan's row. */
function planErrors(error: unknown, index: number): string[] {
  if (!(error instanceof ApiError)) return [];
  return error.details.filter((d) => d.field?.startsWith(`plans.${index}.`) || d.field === `plans.${index}`).map((d) => d.message ?? "");
}

export default function Marketplace() {
  const feeds = useQuery({ queryKey: ["feeds"], queryFn: () => call(api.GET("/v1/feeds")) });
  return (
    <>
      <h1>Marketplace</h1>
      <p className="lead">Bundle traits into data feeds with plans; buyers subscribe to active feeds.</p>
      <CreateFeed />
      <h2>Your data feeds</h2>
      <QueryView query={feeds} what="feeds" isEmpty={(d) => d.feeds.length === 0} empty="No data feed yet.">
        {(d) => d.feeds.map((f) => <FeedCard key={f.feed_id} feed={f} />)}
      </QueryView>
    </>
  );
}

function CreateFeed() {
  const client = useQueryClient();
  const traits = useTraits();
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const [traitIds, setTraitIds] = useState<string[]>([]);
  const [visibility, setVisibility] = useState<"public" | "private">("public");
  const [plans, setPlans] = useState<PlanDraft[]>([{ use_cases: ["segments_and_overlap"], unit: "flat_fee", price: "" }]);
  const create = useMutation({
    mutationFn: () => call(api.POST("/v1/feeds", { body: { name, description, trait_ids: traitIds, visibility, plans } })),
    onSuccess: () => {
      setName("");
      setDescription("");
      setTraitIds([]);
      void client.invalidateQueries({ queryKey: ["feeds"] });
    },
  });
  const setPlan = (i: number, plan: PlanDraft) => setPlans(plans.map((p, j) => (j === i ? plan : p)));
  const submit = (event: FormEvent) => {
    event.preventDefault();
    create.mutate();
  };
  const own = (traits.data?.traits ?? []).filter((t) => t.kind === "rule" || t.kind === "algorithmic");
  return (
    <form className="card" onSubmit={submit} aria-labelledby="new-feed" noValidate>
      <h2 id="new-feed">New data feed</h2>
      <div className="columns">
        <Field label="Feed name" error={fieldError(create.error, "name")}>
          {(props) => <input {...props} value={name} onChange={(e) => setName(e.target.value)} />}
        </Field>
        <Field label="Feed visibility">
          {(props) => (
            <select {...props} value={visibility} onChange={(e) => setVisibility(e.target.value as "public" | "private")}>
              <option value="public">Public (listed)</option>
              <option value="private">Private (buyers request access)</option>
            </select>
          )}
        </Field>
      </div>
      <Field label="Description" error={fieldError(create.error, "description")}>
        {(props) => <textarea {...props} rows={2} value={description} onChange={(e) => setDescription(e.target.value)} />}
      </Field>
      <fieldset>
        <legend>Traits in the feed</legend>
        {traits.isError ? <ErrorText error={traits.error} /> : null}
        {own.length === 0 && traits.isSuccess ? <Empty>No trait yet: make some in Traits.</Empty> : null}
        {own.map((t) => (
          <label key={t.trait_id} className="inline">
            <input
              type="checkbox"
              disabled={Boolean(t.feed_id)}
              checked={traitIds.includes(t.trait_id)}
              onChange={() => setTraitIds((c) => (c.includes(t.trait_id) ? c.filter((x) => x !== t.trait_id) : [...c, t.trait_id]))}
            />{" "}
            {t.name}
            {t.feed_id ? <span className="muted"> (already in feed {t.feed_id})</span> : null}
          </label>
        ))}
        {fieldError(create.error, "trait_ids") ? <p className="error">{fieldError(create.error, "trait_ids")}</p> : null}
      </fieldset>
      <fieldset>
        <legend>Plans (every feed needs a segments_and_overlap plan)</legend>
        {plans.map((plan, i) => (
          <div className="row plan" key={i} role="group" aria-label={`Plan ${i + 1}`}>
            {USE_CASES.map((u) => (
              <label key={u} className="inline">
                <input
                  type="checkbox"
                  checked={plan.use_cases.includes(u)}
                  onChange={() => setPlan(i, { ...plan, use_cases: plan.use_cases.includes(u) ? plan.use_cases.filter((x) => x !== u) : [...plan.use_cases, u] })}
                />{" "}
                {u}
              </label>
            ))}
            <select aria-label={`Plan ${i + 1} unit`} value={plan.unit} onChange={(e) => setPlan(i, { ...plan, unit: e.target.value as PlanDraft["unit"] })}>
              <option value="flat_fee">flat fee per month</option>
              <option value="cpm">CPM</option>
            </select>
            <input aria-label={`Plan ${i + 1} price`} inputMode="decimal" placeholder="price" value={plan.price} onChange={(e) => setPlan(i, { ...plan, price: e.target.value })} />
            <button type="button" className="secondary" onClick={() => setPlans(plans.filter((_, j) => j !== i))}>
              Remove plan {i + 1}
            </button>
            {planErrors(create.error, i).map((message) => (
              <p className="error" role="alert" key={message}>
                Plan {i + 1}: {message}
              </p>
            ))}
          </div>
        ))}
        <button type="button" className="secondary" onClick={() => setPlans([...plans, { use_cases: ["activation"], unit: "cpm", price: "" }])}>
          Add plan
        </button>
      </fieldset>
      {create.error && !(create.error instanceof ApiError && create.error.details.some((d) => d.field?.startsWith("plans."))) ? (
        <ErrorText error={create.error} />
      ) : null}
      <button type="submit" disabled={create.isPending}>
        Create feed
      </button>
    </form>
  );
}

function FeedCard({ feed }: { feed: Schemas["FeedView"] }) {
  const client = useQueryClient();
  const path = { params: { path: { feed_id: feed.feed_id } } };
  const activate = useMutation({
    mutationFn: () => call(api.POST("/v1/feeds/{feed_id}/activate", path)),
    onSuccess: () => void client.invalidateQueries({ queryKey: ["feeds"] }),
  });
  const requests = useQuery({ queryKey: ["access", feed.feed_id], queryFn: () => call(api.GET("/v1/feeds/{feed_id}/access-requests", path)) });
  const discounts = useQuery({ queryKey: ["discounts", feed.feed_id], queryFn: () => call(api.GET("/v1/feeds/{feed_id}/discounts", path)) });
  const subscriptions = useQuery({ queryKey: ["feed-subs", feed.feed_id], queryFn: () => call(api.GET("/v1/feeds/{feed_id}/subscriptions", path)) });
  const decide = useMutation({
    mutationFn: ({ buyer, verdict }: { buyer: string; verdict: "approve" | "deny" }) =>
      verdict === "approve"
        ? call(api.POST("/v1/feeds/{feed_id}/access-requests/{buyer_id}/approve", { params: { path: { feed_id: feed.feed_id, buyer_id: buyer } } }))
        : call(api.POST("/v1/feeds/{feed_id}/access-requests/{buyer_id}/deny", { params: { path: { feed_id: feed.feed_id, buyer_id: buyer } } })),
    onSuccess: () => void client.invalidateQueries({ queryKey: ["access", feed.feed_id] }),
  });
  const [buyer, setBuyer] = useState("");
  const [pct, setPct] = useState("");
  const discount = useMutation({
    mutationFn: () => call(api.PUT("/v1/feeds/{feed_id}/discounts/{buyer_id}", { params: { path: { feed_id: feed.feed_id, buyer_id: buyer.trim() } }, body: { discount_pct: pct } })),
    onSuccess: () => {
      setBuyer("");
      setPct("");
      void client.invalidateQueries({ queryKey: ["discounts", feed.feed_id] });
    },
  });
  const buyers = new Set([...(subscriptions.data?.subscriptions ?? []).map((s) => s.buyer_id), ...(requests.data?.access_requests ?? []).map((r) => r.buyer_id)]);
  return (
    <article className="card" aria-label={`Feed ${feed.name}`}>
      <h3>
        {feed.name} <span className="badge">{feed.status}</span> <span className="badge">{feed.visibility}</span>
      </h3>
      <p className="muted">
        {feed.description} · <code>{feed.feed_id}</code> · {feed.trait_ids.length} traits
      </p>
      <table>
        <thead>
          <tr>
            <th scope="col">Use cases</th>
            <th scope="col">Unit</th>
            <th scope="col" className="num">Price</th>
          </tr>
        </thead>
        <tbody>
          {feed.plans.map((p) => (
            <tr key={p.plan_id}>
              <td>{p.use_cases.join(", ")}</td>
              <td>{p.unit === "cpm" ? "CPM" : "flat fee / month"}</td>
              <td className="num">
                {p.price} {p.currency}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {feed.status === "inactive" ? (
        <button type="button" onClick={() => activate.mutate()} disabled={activate.isPending}>
          Activate {feed.name}
        </button>
      ) : (
        <p className="muted">Active since {feed.activated_at?.slice(0, 10)}; {subscriptions.data?.subscriptions.filter((s) => s.status === "active").length ?? 0} active subscriptions.</p>
      )}
      <ErrorText error={activate.error} />
      <h4>Access requests</h4>
      <QueryView query={requests} what="access requests" isEmpty={(d) => d.access_requests.length === 0} empty="No access request.">
        {(d) => (
          <ul className="plain">
            {d.access_requests.map((r) => (
              <li key={r.buyer_id} className="row">
                <code>{r.buyer_id}</code> {r.status} (asked {r.requested_at.slice(0, 10)})
                {r.status === "pending" ? (
                  <>
                    <button type="button" onClick={() => decide.mutate({ buyer: r.buyer_id, verdict: "approve" })}>
                      Approve {r.buyer_id}
                    </button>
                    <button type="button" className="secondary" onClick={() => decide.mutate({ buyer: r.buyer_id, verdict: "deny" })}>
                      Deny {r.buyer_id}
                    </button>
                  </>
                ) : null}
              </li>
            ))}
          </ul>
        )}
      </QueryView>
      <ErrorText error={decide.error} />
      <h4>Discounts per buyer</h4>
      <QueryView query={discounts} what="discounts" isEmpty={(d) => d.discounts.length === 0} empty="No discount.">
        {(d) => (
          <ul className="plain">
            {d.discounts.map((x) => (
              <li key={x.buyer_id}>
                <code>{x.buyer_id}</code>: {x.discount_pct} %
              </li>
            ))}
          </ul>
        )}
      </QueryView>
      <form className="row" onSubmit={(e) => { e.preventDefault(); discount.mutate(); }} noValidate>
        <Field label="Buyer account id" error={fieldError(discount.error, "buyer_id")}>
          {(props) => (
            <>
              <input {...props} list={`buyers-${feed.feed_id}`} value={buyer} onChange={(e) => setBuyer(e.target.value)} />
              <datalist id={`buyers-${feed.feed_id}`}>
                {[...buyers].map((b) => <option key={b} value={b} />)}
              </datalist>
            </>
          )}
        </Field>
        <Field label="Discount %" error={fieldError(discount.error, "discount_pct")}>
          {(props) => <input {...props} inputMode="decimal" value={pct} onChange={(e) => setPct(e.target.value)} />}
        </Field>
        <button type="submit" disabled={!buyer.trim() || discount.isPending}>
          Set discount
        </button>
      </form>
      <ErrorText error={discount.error} />
    </article>
  );
}
