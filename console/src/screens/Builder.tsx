import { keepPreviousData, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useMemo, useState, type FormEvent } from "react";
import { Link } from "react-router-dom";
import { Bar, BarChart, CartesianGrid, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import { api, ApiError, call, type Schemas } from "../api/client";
import { emptyGroup, parse, RuleSyntaxError, toText, type Group, type RuleNode } from "../rule";
import { ErrorText, Field, fieldError, number } from "../ui";
import { useDebounced } from "../useDebounced";
import { useAuth } from "../auth";
import { useUsableTraits } from "./Traits";

/** Quiet time after the last edit before the estimate is asked for (the API answers in tens of ms). */
export const ESTIMATE_DEBOUNCE_MS = 100;

type Trait = Schemas["TraitView"];

export default function Builder() {
  const buyer = useAuth().me?.roles.includes("buyer") ?? false;
  const traits = useUsableTraits(buyer);
  const [mode, setMode] = useState<"blocks" | "text">("blocks");
  const [tree, setTree] = useState<Group>(() => ({ ...emptyGroup("AND"), items: [{ kind: "trait", traitId: "", negated: false }] }));
  const [text, setText] = useState("");
  const [blocksError, setBlocksError] = useState<string | null>(null);
  const rule = mode === "blocks" ? toText(tree) : text;
  const settled = useDebounced(rule.trim(), ESTIMATE_DEBOUNCE_MS);
  const estimate = useQuery({
    queryKey: ["estimate", settled],
    queryFn: () => call(api.POST("/v1/segments/estimate", { body: { rule: settled } })),
    enabled: settled !== "",
    placeholderData: keepPreviousData,
    retry: false,
    staleTime: 5_000,
  });
  const toText_ = () => {
    setText(toText(tree));
    setMode("text");
  };
  const toBlocks = () => {
    try {
      setTree(parse(text));
      setBlocksError(null);
      setMode("blocks");
    } catch (error) {
      setBlocksError(error instanceof RuleSyntaxError ? `This text cannot be shown as blocks: ${error.message}.` : String(error));
    }
  };
  const traitList = traits.data?.traits ?? [];
  const names = useMemo(() => new Map(traitList.map((t) => [t.trait_id, t.name])), [traitList]);
  const stale = settled !== rule.trim() || estimate.isFetching;
  return (
    <>
      <h1>Audience builder</h1>
      <p className="lead">Combine traits with AND, OR, NOT and groups; the estimate follows as you edit.</p>
      {traits.isError ? <ErrorText error={traits.error} /> : null}
      {traits.data && traitList.length === 0 ? (
        <p className="empty">
          No trait yet: make some in <Link to="/traits">Traits</Link> first.
        </p>
      ) : null}
      <div className="builder">
        <section aria-labelledby="rule-title" className="card">
          <h2 id="rule-title">Rule</h2>
          <div role="group" aria-label="Editing mode" className="toggle">
            <button type="button" aria-pressed={mode === "blocks"} onClick={() => (mode === "text" ? toBlocks() : undefined)}>
              Blocks
            </button>
            <button type="button" aria-pressed={mode === "text"} onClick={() => (mode === "blocks" ? toText_() : undefined)}>
              Text
            </button>
          </div>
          {blocksError ? <p className="error" role="alert">{blocksError}</p> : null}
          {mode === "blocks" ? (
            <GroupEditor group={tree} traits={traitList} onChange={setTree} path="Rule" />
          ) : (
            <Field label="Rule expression" hint="Trait ids with AND, OR, NOT, parentheses; a comma is an implied OR.">
              {(props) => (
                <textarea {...props} rows={3} value={text} onChange={(e) => setText(e.target.value)} spellCheck={false} className="mono" />
              )}
            </Field>
          )}
          <p className="muted">
            Expression: <code data-testid="rule-text">{rule || "(empty)"}</code>
          </p>
          <RuleError error={estimate.error} rule={settled} />
        </section>
        <EstimatePanel estimate={estimate.data} pending={settled !== "" && estimate.isPending} stale={stale} names={names} empty={settled === ""} />
      </div>
      <SaveSegment rule={rule.trim()} />
    </>
  );
}

function RuleError({ error, rule }: { error: Error | null; rule: string }) {
  if (!error) return null;
  const position = error instanceof ApiError ? error.details.find((d) => typeof d.position === "number")?.position : undefined;
  return (
    <div className="rule-error" role="alert">
      <p className="error">{error.message}</p>
      {position !== undefined ? (
        <pre className="caret" aria-label={`Error at position ${position}`}>
          {rule}
          {"\n"}
          {" ".repeat(position)}^
        </pre>
      ) : null}
    </div>
  );
}

function EstimatePanel({
  estimate,
  pending,
  stale,
  names,
  empty,
}: {
  estimate: Schemas["EstimateView"] | undefined;
  pending: boolean;
  stale: boolean;
  names: Map<string, string>;
  empty: boolean;
}) {
  const data = (estimate?.traits ?? []).map((t) => ({ name: names.get(t.trait_id) ?? t.trait_id, population: t.population, share: t.share }));
  return (
    <section aria-labelledby="estimate-title" className="card estimate" aria-busy={stale}>
      <h2 id="estimate-title">Estimate</h2>
      {empty ? <p className="empty">Pick a trait to see the estimated audience.</p> : null}
      {pending ? <p className="muted">Estimating…</p> : null}
      {estimate && !empty ? (
        <>
          <p className="big" aria-label="Estimated population" data-testid="estimate-population">
            {number(estimate.population)}
          </p>
          <p className="muted" data-testid="estimate-bounds">
            {estimate.exact ? "exact" : `between ${number(estimate.lower_bound)} and ${number(estimate.upper_bound)} (${Math.round(estimate.confidence * 100)} % confidence)`}
          </p>
          <h3>Composition</h3>
          <figure className="chart" aria-label="Composition chart">
            <ResponsiveContainer width="100%" height={Math.max(120, data.length * 40 + 40)}>
              <BarChart data={data} layout="vertical" margin={{ left: 20 }}>
                <CartesianGrid strokeDasharray="3 3" horizontal={false} />
                <XAxis type="number" fontSize={12} />
                <YAxis type="category" dataKey="name" width={120} fontSize={12} />
                <Tooltip />
                <Bar dataKey="population" name="users" fill="#2f6fde" isAnimationActive={false} />
              </BarChart>
            </ResponsiveContainer>
          </figure>
          <table>
            <thead>
              <tr>
                <th scope="col">Trait</th>
                <th scope="col" className="num">Users</th>
                <th scope="col" className="num">Share</th>
              </tr>
            </thead>
            <tbody>
              {data.map((t) => (
                <tr key={t.name}>
                  <td>{t.name}</td>
                  <td className="num">{number(t.population)}</td>
                  <td className="num">{(t.share * 100).toFixed(1)} %</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      ) : null}
    </section>
  );
}

function GroupEditor({
  group,
  traits,
  onChange,
  onRemove,
  path,
}: {
  group: Group;
  traits: Trait[];
  onChange: (g: Group) => void;
  onRemove?: () => void;
  path: string;
}) {
  const set = (index: number, node: RuleNode) => onChange({ ...group, items: group.items.map((n, i) => (i === index ? node : n)) });
  const remove = (index: number) => onChange({ ...group, items: group.items.filter((_, i) => i !== index) });
  return (
    <fieldset className="group-editor">
      <legend>{path}</legend>
      <div className="row">
        <label>
          Match{" "}
          <select aria-label={`${path}: combine with`} value={group.op} onChange={(e) => onChange({ ...group, op: e.target.value as "AND" | "OR" })}>
            <option value="AND">all of (AND)</option>
            <option value="OR">any of (OR)</option>
          </select>
        </label>
        <label className="inline">
          <input type="checkbox" checked={group.negated} onChange={(e) => onChange({ ...group, negated: e.target.checked })} /> NOT this group
        </label>
        {onRemove ? (
          <button type="button" className="secondary" onClick={onRemove}>
            Remove group
          </button>
        ) : null}
      </div>
      <ol>
        {group.items.map((node, index) => (
          <li key={index}>
            {node.kind === "trait" ? (
              <div className="row">
                <select aria-label={`${path}: trait ${index + 1}`} value={node.traitId} onChange={(e) => set(index, { ...node, traitId: e.target.value })}>
                  <option value="">Choose a trait…</option>
                  {traits.map((t) => (
                    <option key={t.trait_id} value={t.trait_id}>
                      {t.name} ({number(t.population)})
                    </option>
                  ))}
                </select>
                <label className="inline">
                  <input
                    type="checkbox"
                    aria-label={`${path}: NOT trait ${index + 1}`}
                    checked={node.negated}
                    onChange={(e) => set(index, { ...node, negated: e.target.checked })}
                  />{" "}
                  NOT
                </label>
                <button type="button" className="secondary" aria-label={`${path}: remove trait ${index + 1}`} onClick={() => remove(index)}>
                  Remove
                </button>
              </div>
            ) : (
              <GroupEditor group={node} traits={traits} onChange={(g) => set(index, g)} onRemove={() => remove(index)} path={`${path} › group ${index + 1}`} />
            )}
          </li>
        ))}
      </ol>
      <div className="row">
        <button type="button" className="secondary" onClick={() => onChange({ ...group, items: [...group.items, { kind: "trait", traitId: "", negated: false }] })}>
          Add trait{path === "Rule" ? "" : ` to ${path}`}
        </button>
        <button
          type="button"
          className="secondary"
          onClick={() => onChange({ ...group, items: [...group.items, { ...emptyGroup(group.op === "AND" ? "OR" : "AND"), items: [{ kind: "trait", traitId: "", negated: false }] }] })}
        >
          Add group{path === "Rule" ? "" : ` to ${path}`}
        </button>
      </div>
    </fieldset>
  );
}

const CPM_REASON = "Only public segments can have a price: a private segment is not sold on the marketplace or on external channels.";

function SaveSegment({ rule }: { rule: string }) {
  const client = useQueryClient();
  const [name, setName] = useState("");
  const [category, setCategory] = useState("");
  const [days, setDays] = useState("30");
  const [visibility, setVisibility] = useState<"public" | "private">("private");
  const [cpm, setCpm] = useState("");
  const save = useMutation({
    mutationFn: () =>
      call(
        api.POST("/v1/segments", {
          body: {
            name,
            category,
            rule,
            expiration_days: Number(days),
            visibility,
            ...(visibility === "public" && cpm.trim() ? { cpm: cpm.trim() } : {}),
          },
        }),
      ),
    onSuccess: () => void client.invalidateQueries({ queryKey: ["segments"] }),
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    save.mutate();
  };
  return (
    <form className="card" onSubmit={submit} aria-labelledby="save-title" noValidate>
      <h2 id="save-title">Save as a segment</h2>
      <div className="columns">
        <Field label="Segment name" error={fieldError(save.error, "name")}>
          {(props) => <input {...props} value={name} onChange={(e) => setName(e.target.value)} />}
        </Field>
        <Field label="Category" error={fieldError(save.error, "category")} hint="With the name, the taxonomy pushed to channels.">
          {(props) => <input {...props} value={category} onChange={(e) => setCategory(e.target.value)} placeholder="Interest > Sports" />}
        </Field>
        <Field label="Expiration days" error={fieldError(save.error, "expiration_days")} hint="Removed from every channel after this many days without change.">
          {(props) => <input {...props} type="number" min={1} value={days} onChange={(e) => setDays(e.target.value)} />}
        </Field>
        <Field label="Visibility" error={fieldError(save.error, "visibility")}>
          {(props) => (
            <select {...props} value={visibility} onChange={(e) => setVisibility(e.target.value as "public" | "private")}>
              <option value="private">Private</option>
              <option value="public">Public (on the marketplace)</option>
            </select>
          )}
        </Field>
        <Field
          label="CPM"
          error={fieldError(save.error, "cpm") ?? (save.error instanceof ApiError && save.error.code === "price_requires_public_segment" ? save.error.message : undefined)}
          hint={visibility === "public" ? "Price per thousand impressions on external channels." : CPM_REASON}
        >
          {(props) => <input {...props} inputMode="decimal" value={visibility === "public" ? cpm : ""} disabled={visibility !== "public"} onChange={(e) => setCpm(e.target.value)} placeholder="1.50" />}
        </Field>
      </div>
      {save.error instanceof ApiError && save.error.code !== "validation_error" && save.error.code !== "price_requires_public_segment" ? (
        <RuleError error={save.error} rule={rule} />
      ) : save.error instanceof ApiError && save.error.code === "validation_error" && !["name", "category", "expiration_days", "visibility", "cpm"].some((f) => save.error && fieldError(save.error, f)) ? (
        <ErrorText error={save.error} />
      ) : null}
      <button type="submit" disabled={save.isPending || !rule}>
        {save.isPending ? "Saving…" : "Save segment"}
      </button>
      {!rule ? <small className="hint"> Build a rule first.</small> : null}
      {save.data ? (
        <p role="status">
          Saved <Link to={`/segments/${save.data.segment_id}`}>{save.data.name}</Link> ({save.data.visibility}
          {save.data.cpm ? `, CPM ${save.data.cpm} ${save.data.currency}` : ""}).
        </p>
      ) : null}
    </form>
  );
}
