import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { useSearchParams } from "react-router-dom";
import { api, call } from "../api/client";
import { useAuth } from "../auth";
import { Empty, ErrorText, Field, fieldError, number, QueryView } from "../ui";
import { useDataPoints } from "./DataPoints";
import { useSources } from "./Integration";
import { SourcePicker } from "./SourcePicker";

export function useTraits() {
  return useQuery({ queryKey: ["traits"], queryFn: () => call(api.GET("/v1/traits")) });
}

/**
 * The traits a rule may name: the account's own and, for a buyer, those of the feeds it subscribes to
 * (the marketplace lists them; each is read for its population).
 */
export function useUsableTraits(buyer: boolean) {
  return useQuery({
    queryKey: ["traits", "usable", buyer],
    queryFn: async () => {
      const own = (await call(api.GET("/v1/traits"))).traits;
      if (!buyer) return { traits: own };
      const listings = (await call(api.GET("/v1/marketplace/feeds"))).feeds.filter((f) => f.subscriptions.length > 0);
      const seen = new Set(own.map((t) => t.trait_id));
      const ids = [...new Set(listings.flatMap((f) => f.traits.map((t) => t.trait_id)))].filter((id) => !seen.has(id));
      const feedTraits = await Promise.all(ids.map((id) => call(api.GET("/v1/traits/{trait_id}", { params: { path: { trait_id: id } } }))));
      return { traits: [...own, ...feedTraits] };
    },
  });
}

export default function Traits() {
  const traits = useTraits();
  const { me } = useAuth();
  const provider = me?.roles.includes("provider") ?? false;
  return (
    <>
      <h1>Traits</h1>
      <p className="lead">A trait is a set of users: realized from data points (rule traits) or modeled (algorithmic).</p>
      {provider ? (
        <div className="columns">
          <RuleTraitForm />
          <AlgorithmicTraitForm />
        </div>
      ) : null}
      <h2>Your traits</h2>
      <QueryView query={traits} what="traits" isEmpty={(d) => d.traits.length === 0} empty="No trait yet.">
        {(d) => (
          <table>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Id</th>
                <th scope="col">Kind</th>
                <th scope="col">Definition</th>
                <th scope="col" className="num">
                  Population
                </th>
                <th scope="col" className="num">
                  Bounds
                </th>
              </tr>
            </thead>
            <tbody>
              {d.traits.map((t) => (
                <tr key={t.trait_id}>
                  <td>{t.name}</td>
                  <td>
                    <code>{t.trait_id}</code>
                  </td>
                  <td>{t.kind}</td>
                  <td>
                    {t.condition ? <code>{JSON.stringify(t.condition)}</code> : null}
                    {t.modeled_on_feed_ids?.length ? `seed ${t.seed_trait_id ?? ""}, on ${t.modeled_on_feed_ids.join(", ")}` : null}
                    {t.feed_id ? ` · in feed ${t.feed_id}` : null}
                  </td>
                  <td className="num">{number(t.population)}</td>
                  <td className="num">
                    {number(t.lower_bound)} – {number(t.upper_bound)}
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

function RuleTraitForm() {
  const [params] = useSearchParams();
  const client = useQueryClient();
  const sources = useSources();
  const [sourceId, setSourceId] = useState(params.get("source") ?? "");
  const [key, setKey] = useState(params.get("key") ?? "");
  const [values, setValues] = useState<string[]>(params.get("value") ? [params.get("value")!] : []);
  const [name, setName] = useState("");
  const points = useDataPoints(sourceId);
  const keyValues = points.data?.data_points.find((p) => p.key === key)?.values ?? [];
  const create = useMutation({
    mutationFn: () =>
      call(
        api.POST("/v1/traits", {
          body: {
            name,
            kind: "rule",
            source_id: sourceId,
            condition: values.length === 1 ? { key, equals: values[0] } : { key, in: values },
          },
        }),
      ),
    onSuccess: () => {
      setName("");
      setValues([]);
      void client.invalidateQueries({ queryKey: ["traits"] });
    },
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    create.mutate();
  };
  const toggle = (value: string) =>
    setValues((current) => (current.includes(value) ? current.filter((v) => v !== value) : [...current, value]));
  return (
    <form className="card" onSubmit={submit} aria-label="Create a rule trait" noValidate>
      <h2>New rule trait</h2>
      <QueryView query={sources} what="sources" isEmpty={(d) => d.sources.length === 0} empty="Create a source first.">
        {(d) => <SourcePicker sources={d.sources} value={sourceId} onChange={(id) => { setSourceId(id); }} />}
      </QueryView>
      {points.isError ? <ErrorText error={points.error} /> : null}
      <Field label="Data point key" error={fieldError(create.error, "key")}>
        {(props) => (
          <select {...props} value={key} onChange={(e) => { setKey(e.target.value); setValues([]); }}>
            <option value="">Choose a key…</option>
            {points.data?.data_points.map((p) => (
              <option key={p.key} value={p.key}>
                {p.key}
              </option>
            ))}
          </select>
        )}
      </Field>
      {key ? (
        <fieldset>
          <legend>Values (one: equals; several: in)</legend>
          {keyValues.length === 0 ? <Empty>No value collected for this key.</Empty> : null}
          {keyValues.map((v) => (
            <label key={String(v.value)} className="inline">
              <input type="checkbox" checked={values.includes(String(v.value))} onChange={() => toggle(String(v.value))} />{" "}
              {String(v.value)} <span className="muted">({number(v.users)} users)</span>
            </label>
          ))}
        </fieldset>
      ) : null}
      <Field label="Trait name" error={fieldError(create.error, "name")}>
        {(props) => <input {...props} value={name} onChange={(e) => setName(e.target.value)} />}
      </Field>
      <ErrorText error={create.error} />
      <button type="submit" disabled={create.isPending || !key || values.length === 0}>
        Create rule trait
      </button>
      {create.data ? (
        <p role="status">
          Created {create.data.name} (<code>{create.data.trait_id}</code>): {number(create.data.population)} users.
        </p>
      ) : null}
    </form>
  );
}

function AlgorithmicTraitForm() {
  const client = useQueryClient();
  const traits = useTraits();
  const feeds = useQuery({ queryKey: ["feeds"], queryFn: () => call(api.GET("/v1/feeds")) });
  const market = useQuery({ queryKey: ["marketplace-feeds"], queryFn: () => call(api.GET("/v1/marketplace/feeds")), retry: false });
  const [name, setName] = useState("");
  const [seed, setSeed] = useState("");
  const [feedIds, setFeedIds] = useState<string[]>([]);
  const allFeeds = [
    ...(feeds.data?.feeds ?? []).map((f) => ({ id: f.feed_id, name: f.name })),
    ...(market.data?.feeds ?? []).map((f) => ({ id: f.feed_id, name: `${f.name} (${f.provider_name})` })),
  ].filter((f, i, all) => all.findIndex((g) => g.id === f.id) === i);
  const create = useMutation({
    mutationFn: () =>
      call(api.POST("/v1/traits", { body: { name, kind: "algorithmic", seed_trait_id: seed, modeled_on_feed_ids: feedIds } })),
    onSuccess: () => {
      setName("");
      void client.invalidateQueries({ queryKey: ["traits"] });
    },
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    create.mutate();
  };
  return (
    <form className="card" onSubmit={submit} aria-label="Create an algorithmic trait" noValidate>
      <h2>New algorithmic trait</h2>
      <p className="muted">A look-alike of a seed trait, modeled on the traits of one or more data feeds.</p>
      <Field label="Seed trait" error={fieldError(create.error, "seed_trait_id")}>
        {(props) => (
          <select {...props} value={seed} onChange={(e) => setSeed(e.target.value)}>
            <option value="">Choose a trait…</option>
            {traits.data?.traits.map((t) => (
              <option key={t.trait_id} value={t.trait_id}>
                {t.name}
              </option>
            ))}
          </select>
        )}
      </Field>
      <fieldset>
        <legend>Modeled on feeds</legend>
        {feeds.isError ? <ErrorText error={feeds.error} /> : null}
        {allFeeds.length === 0 ? <Empty>No data feed yet: create one in the Marketplace.</Empty> : null}
        {allFeeds.map((f) => (
          <label key={f.id} className="inline">
            <input
              type="checkbox"
              checked={feedIds.includes(f.id)}
              onChange={() => setFeedIds((c) => (c.includes(f.id) ? c.filter((x) => x !== f.id) : [...c, f.id]))}
            />{" "}
            {f.name}
          </label>
        ))}
      </fieldset>
      <Field label="Algorithmic trait name" error={fieldError(create.error, "name")}>
        {(props) => <input {...props} value={name} onChange={(e) => setName(e.target.value)} />}
      </Field>
      <ErrorText error={create.error} />
      <button type="submit" disabled={create.isPending}>
        Create algorithmic trait
      </button>
      {create.data ? (
        <p role="status">
          Created {create.data.name}: {number(create.data.population)} users.
        </p>
      ) : null}
    </form>
  );
}
