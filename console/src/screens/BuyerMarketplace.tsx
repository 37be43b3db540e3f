import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { api, call, type Schemas } from "../api/client";
import { ErrorText, Field, fieldError, QueryView } from "../ui";

const useCases = (list: string[]) => list.map((u) => u.replace(/_/g, " ")).join(", ");

/** The buyer's side of the marketplace: feeds and their plans, subscriptions, access to private feeds, public segments. */
export default function BuyerMarketplace() {
  const feeds = useQuery({ queryKey: ["market-feeds"], queryFn: () => call(api.GET("/v1/marketplace/feeds")) });
  const subscriptions = useQuery({ queryKey: ["subscriptions"], queryFn: () => call(api.GET("/v1/subscriptions")) });
  const active = new Map((subscriptions.data?.subscriptions ?? []).filter((s) => s.status === "active").map((s) => [s.plan_id, s]));
  const names = new Map((feeds.data?.feeds ?? []).map((f) => [f.feed_id, `${f.name} (${f.provider_name})`]));
  return (
    <section aria-labelledby="buy-title">
      <h2 id="buy-title">Data feeds to buy</h2>
      <p className="lead">Active public feeds, and private ones you were given access to. Prices are per month (flat fee) or per thousand impressions (CPM), billed in arrears.</p>
      <QueryView query={feeds} what="data feeds" isEmpty={(d) => d.feeds.length === 0} empty="No data feed is offered yet.">
        {(d) => d.feeds.map((f) => <Listing key={f.feed_id} feed={f} active={active} />)}
      </QueryView>
      <RequestAccess />
      <h2>Your subscriptions</h2>
      <QueryView query={subscriptions} what="subscriptions" isEmpty={(d) => d.subscriptions.length === 0} empty="No subscription yet.">
        {(d) => <Subscriptions list={d.subscriptions} names={names} />}
      </QueryView>
      <PublicSegments />
    </section>
  );
}

function Listing({ feed, active }: { feed: Schemas["ListingView"]; active: Map<string, Schemas["SubscriptionView"]> }) {
  const client = useQueryClient();
  const subscribe = useMutation({
    mutationFn: (plan: string) => call(api.POST("/v1/subscriptions", { body: { plan_id: plan } })),
    onSuccess: () => {
      void client.invalidateQueries({ queryKey: ["subscriptions"] });
      void client.invalidateQueries({ queryKey: ["market-feeds"] });
      void client.invalidateQueries({ queryKey: ["traits"] });
    },
  });
  const discounted = Number(feed.discount_pct) > 0;
  return (
    <article className="card" aria-label={`Feed ${feed.name}`}>
      <h3>
        {feed.name} <span className="badge">{feed.visibility}</span>
        {feed.access === "approved" ? <span className="badge">access approved</span> : null}
      </h3>
      <p className="muted">
        by {feed.provider_name} · {feed.description}
      </p>
      <p>
        Traits: {feed.traits.map((t) => t.name).join(", ") || "none"}
      </p>
      <table aria-label={`Plans of ${feed.name}`}>
        <thead>
          <tr>
            <th scope="col">Use cases</th>
            <th scope="col">Unit</th>
            <th scope="col" className="num">List price</th>
            <th scope="col" className="num">Your price</th>
            <th scope="col">
              <span className="sr-only">Subscription</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {feed.plans.map((p) => {
            const held = active.get(p.plan_id);
            return (
              <tr key={p.plan_id}>
                <td>{useCases(p.use_cases)}</td>
                <td>{p.unit === "cpm" ? "CPM" : "flat fee / month"}</td>
                <td className="num">
                  {discounted ? <s>{p.price}</s> : p.price} {p.currency}
                </td>
                <td className="num">
                  {p.discounted_price ?? p.price} {p.currency}
                  {discounted ? <span className="muted"> (−{feed.discount_pct} %)</span> : null}
                </td>
                <td>
                  {held ? (
                    <span className="muted">subscribed since {held.start_date}</span>
                  ) : (
                    <button
                      type="button"
                      onClick={() => subscribe.mutate(p.plan_id)}
                      disabled={subscribe.isPending}
                      aria-label={`Subscribe to ${feed.name} ${useCases(p.use_cases)} (${p.unit === "cpm" ? "CPM" : "flat fee"})`}
                    >
                      Subscribe
                    </button>
                  )}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
      <ErrorText error={subscribe.error} />
    </article>
  );
}

function Subscriptions({ list, names }: { list: Schemas["SubscriptionView"][]; names: Map<string, string> }) {
  const client = useQueryClient();
  const end = useMutation({
    mutationFn: (id: string) => call(api.DELETE("/v1/subscriptions/{subscription_id}", { params: { path: { subscription_id: id } } })),
    onSuccess: () => void client.invalidateQueries({ queryKey: ["subscriptions"] }),
  });
  return (
    <>
      <table aria-label="Subscriptions">
        <thead>
          <tr>
            <th scope="col">Feed</th>
            <th scope="col">Use cases</th>
            <th scope="col">Unit</th>
            <th scope="col">Start</th>
            <th scope="col">End</th>
            <th scope="col">Status</th>
            <th scope="col">
              <span className="sr-only">Action</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {[...list]
            .sort((a, b) => b.start_date.localeCompare(a.start_date))
            .map((s) => {
              const name = names.get(s.feed_id) ?? s.feed_id;
              return (
                <tr key={s.subscription_id}>
                  <td>{name}</td>
                  <td>{useCases(s.use_cases)}</td>
                  <td>{s.unit === "cpm" ? "CPM" : "flat fee / month"}</td>
                  <td className="nowrap">{s.start_date}</td>
                  <td className="nowrap">{s.end_date ?? "—"}</td>
                  <td>
                    <span className={`status status-${s.status}`}>{s.status}</span>
                  </td>
                  <td>
                    {s.status === "active" ? (
                      <button
                        type="button"
                        className="secondary"
                        onClick={() => end.mutate(s.subscription_id)}
                        disabled={end.isPending}
                        aria-label={`Unsubscribe from ${name} ${useCases(s.use_cases)}`}
                      >
                        Unsubscribe
                      </button>
                    ) : null}
                  </td>
                </tr>
              );
            })}
        </tbody>
      </table>
      <ErrorText error={end.error} />
    </>
  );
}

function RequestAccess() {
  const [feedId, setFeedId] = useState("");
  const ask = useMutation({ mutationFn: () => call(api.POST("/v1/feeds/{feed_id}/access-requests", { params: { path: { feed_id: feedId.trim() } } })) });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    ask.mutate();
  };
  return (
    <form className="card" onSubmit={submit} noValidate aria-labelledby="access-title">
      <h3 id="access-title">Request access to a private feed</h3>
      <Field label="Private feed id" error={fieldError(ask.error, "feed_id")} hint="The provider gives you its id (fd_…); once they approve, the feed is listed above.">
        {(props) => <input {...props} value={feedId} onChange={(e) => setFeedId(e.target.value)} />}
      </Field>
      <button type="submit" disabled={!feedId.trim() || ask.isPending}>
        Request access
      </button>
      {ask.isSuccess ? <p role="status">Access requested: the provider will approve or deny it.</p> : null}
      <ErrorText error={ask.error} />
    </form>
  );
}

function PublicSegments() {
  const client = useQueryClient();
  const segments = useQuery({ queryKey: ["marketplace-segments"], queryFn: () => call(api.GET("/v1/marketplace/segments")) });
  const destinations = useQuery({ queryKey: ["destinations"], queryFn: () => call(api.GET("/v1/destinations")) });
  const [choice, setChoice] = useState<Record<string, string>>({});
  const map = useMutation({
    mutationFn: ({ segment, destination }: { segment: string; destination: string }) =>
      call(api.POST("/v1/destinations/{destination_id}/segments", { params: { path: { destination_id: destination } }, body: { segment_id: segment } })),
    onSuccess: (_d, v) => {
      setChoice((c) => ({ ...c, [v.segment]: "" }));
      void client.invalidateQueries({ queryKey: ["mappings", v.destination] });
    },
  });
  const dests = destinations.data?.destinations ?? [];
  return (
    <section aria-labelledby="public-segments-title">
      <h2 id="public-segments-title">Public provider segments</h2>
      <p className="muted">Billed at their own CPM on the impressions you report for them.</p>
      <QueryView query={segments} what="public segments" isEmpty={(d) => d.segments.length === 0} empty="No public segment is offered yet.">
        {(d) => (
          <table aria-label="Public segments">
            <thead>
              <tr>
                <th scope="col">Segment</th>
                <th scope="col">Provider</th>
                <th scope="col">Category</th>
                <th scope="col" className="num">CPM</th>
                <th scope="col">Map to a destination</th>
              </tr>
            </thead>
            <tbody>
              {d.segments.map((s) => (
                <tr key={s.segment_id}>
                  <td>{s.name}</td>
                  <td>{s.provider_name}</td>
                  <td>{s.category}</td>
                  <td className="num">{s.cpm ? `${s.cpm} ${s.currency}` : "—"}</td>
                  <td>
                    <div className="row">
                      <select
                        aria-label={`Destination for ${s.name}`}
                        value={choice[s.segment_id] ?? ""}
                        onChange={(e) => setChoice({ ...choice, [s.segment_id]: e.target.value })}
                      >
                        <option value="">{dests.length ? "Choose a destination…" : "No destination: set one up in Channels"}</option>
                        {dests.map((x) => (
                          <option key={x.destination_id} value={x.destination_id}>
                            {x.name}
                          </option>
                        ))}
                      </select>
                      <button
                        type="button"
                        className="secondary"
                        disabled={!choice[s.segment_id] || map.isPending}
                        onClick={() => map.mutate({ segment: s.segment_id, destination: choice[s.segment_id]! })}
                      >
                        Map {s.name}
                      </button>
                    </div>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </QueryView>
      {map.isSuccess ? <p role="status">Mapped: its taxonomy is on its way to the destination (see Channels).</p> : null}
      <ErrorText error={map.error} />
    </section>
  );
}
