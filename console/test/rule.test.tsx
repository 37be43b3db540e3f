import { parse, RuleSyntaxError, toText, type Group } from "../src/rule";

describe("the builder's rule model", () => {
  it("writes blocks as the API's rule text, groups in parentheses and NOT in front", () => {
    const tree: Group = {
      kind: "group",
      op: "AND",
      negated: false,
      items: [
        { kind: "group", op: "OR", negated: false, items: [{ kind: "trait", traitId: "trt_a", negated: false }, { kind: "trait", traitId: "trt_b", negated: false }] },
        { kind: "trait", traitId: "trt_c", negated: true },
        { kind: "trait", traitId: "", negated: false },
      ],
    };
    expect(toText(tree)).toBe("(trt_a OR trt_b) AND NOT trt_c");
  });

  it("reads text back into the same blocks, with NOT > AND > OR and ',' as an implied OR", () => {
    const text = "(trt_a OR trt_b) AND NOT trt_c";
    expect(toText(parse(text))).toBe(text);
    expect(toText(parse("trt_a AND trt_b, trt_c"))).toBe("(trt_a AND trt_b) OR trt_c");
    expect(toText(parse("NOT (trt_a OR trt_b)"))).toBe("NOT (trt_a OR trt_b)");
    expect(toText(parse("trt_a"))).toBe("trt_a");
    expect(parse("").items).toHaveLength(0);
  });

  it("refuses what it cannot show as blocks, with the position", () => {
    expect(() => parse("trt_a AND (OR")).toThrow(RuleSyntaxError);
    try {
      parse("trt_a AND (OR");
    } catch (error) {
      expect((error as RuleSyntaxError).position).toBe(11);
    }
    expect(() => parse("trt_a trt_b")).toThrow(/position 6/);
    expect(() => parse("(trt_a")).toThrow(/'\)'/);
    expect(() => parse("trt_a $")).toThrow(/position 5/);
  });
});
