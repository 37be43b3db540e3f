import { ApiError, call, toApiError } from "../src/api/client";

const reply = (status: number, body: unknown) => ({ response: new Response(null, { status }), ...(status < 300 ? { data: body } : { error: body }) });

describe("the API client's outcome", () => {
  it("returns the data of any 2xx, 200 or 201 alike", async () => {
    await expect(call(Promise.resolve(reply(200, { a: 1 })))).resolves.toEqual({ a: 1 });
    await expect(call(Promise.resolve(reply(201, { b: 2 })))).resolves.toEqual({ b: 2 });
  });

  it("turns the error body into an ApiError with per-field messages", async () => {
    const body = { error: { code: "validation_error", message: "Invalid request: name.", details: [{ field: "name", message: "too short" }, { field: "plans.1.price", message: "bad price" }] } };
    const error = await call(Promise.resolve(reply(422, body))).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).code).toBe("validation_error");
    expect((error as ApiError).forField("name")).toBe("too short");
    expect((error as ApiError).forField("price")).toBe("bad price");
    expect((error as ApiError).forField("email")).toBeUndefined();
  });

  it("explains a network failure and a body without an error in words", async () => {
    const error = await call(Promise.reject(new TypeError("fetch failed"))).catch((e: unknown) => e);
    expect((error as ApiError).message).toMatch(/could not be reached/);
    expect(toApiError(502, "<html>").message).toMatch(/answered 502/);
  });
});
