/**
 * The audience builder's block model of a segment rule, and its translation to and from the rule text
 * of the API (trait ids with AND, OR, NOT, parentheses, "," as an implied OR; NOT > AND > OR).
 * The API parses the text again and is the authority on errors; this parser only decides whether
 * a text can be shown as blocks.
 */
export interface TraitTerm {
  kind: "trait";
  traitId: string;
  negated: boolean;
}
export interface Group {
  kind: "group";
  op: "AND" | "OR";
  negated: boolean;
  items: RuleNode[];
}
export type RuleNode = TraitTerm | Group;

export const emptyGroup = (op: "AND" | "OR" = "AND"): Group => ({ kind: "group", op, negated: false, items: [] });

export function toText(node: RuleNode, root = true): string {
  if (node.kind === "trait") return node.traitId ? `${node.negated ? "NOT " : ""}${node.traitId}` : "";
  const parts = node.items.map((item) => toText(item, false)).filter(Boolean);
  if (parts.length === 0) return "";
  const body = parts.join(` ${node.op} `);
  if (node.negated) return `NOT (${body})`;
  return root || parts.length === 1 ? body : `(${body})`;
}

type Token = { text: string; at: number };

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  const pattern = /\s*([(),]|[A-Za-z0-9_\-]+)/gy;
  let match: RegExpExecArray | null;
  let last = 0;
  while ((match = pattern.exec(text)) !== null) {
    tokens.push({ text: match[1]!, at: match.index + match[0].length - match[1]!.length });
    last = pattern.lastIndex;
  }
  if (text.slice(last).trim() !== "") throw new RuleSyntaxError(`unexpected character at position ${last}`, last);
  return tokens;
}

export class RuleSyntaxError extends Error {
  constructor(
    message: string,
    readonly position: number,
  ) {
    super(message);
  }
}

/** Parse rule text into blocks; throws RuleSyntaxError. */
export function parse(text: string): Group {
  const tokens = tokenize(text);
  let i = 0;
  const peek = () => tokens[i]?.text.toUpperCase();
  const fail = (what: string): never => {
    const at = tokens[i]?.at ?? text.length;
    throw new RuleSyntaxError(`expected ${what} at position ${at}`, at);
  };
  const orExpr = (): RuleNode => {
    const items = [andExpr()];
    while (peek() === "OR" || peek() === ",") {
      i += 1;
      items.push(andExpr());
    }
    return items.length === 1 ? items[0]! : { kind: "group", op: "OR", negated: false, items };
  };
  const andExpr = (): RuleNode => {
    const items = [notExpr()];
    while (peek() === "AND") {
      i += 1;
      items.push(notExpr());
    }
    return items.length === 1 ? items[0]! : { kind: "group", op: "AND", negated: false, items };
  };
  const notExpr = (): RuleNode => {
    if (peek() === "NOT") {
      i += 1;
      const inner = notExpr();
      return { ...inner, negated: !inner.negated };
    }
    return atom();
  };
  const atom = (): RuleNode => {
    const token = tokens[i];
    if (!token) return fail("a trait id, NOT or '('");
    if (token.text === "(") {
      i += 1;
      const inner = orExpr();
      if (peek() !== ")") fail("')'");
      i += 1;
      return inner.kind === "trait" ? inner : { ...inner };
    }
    if (["AND", "OR", "NOT", ",", ")"].includes(token.text.toUpperCase())) return fail("a trait id, NOT or '('");
    i += 1;
    return { kind: "trait", traitId: token.text, negated: false };
  };
  if (tokens.length === 0) return emptyGroup();
  const tree = orExpr();
  if (i < tokens.length) fail("AND, OR or the end of the rule");
  return tree.kind === "group" && !tree.negated ? tree : { kind: "group", op: "AND", negated: false, items: [tree] };
}
