#!/usr/bin/env node
// The gateway through the official `openai` Node SDK, end to end.
//
// Run by `tests/it/sdk.rs` against a gateway serving the fake CLI
// (`tests/fixtures/bin/fake-cli`) with the routes named below:
//
//     node openai_node.mjs --base-url http://127.0.0.1:PORT/v1 --api-key TOKEN
//
// The SDK is the one pinned in `tests/e2e/package.json`, loaded from
// `tests/e2e/node_modules` next to this folder (`scripts/test` installs it).
// Prints one `ok: ...` line per check; the first failed check throws and the
// script exits non-zero with the error.
//
// The route names must match the config in `tests/it/sdk.rs` (the same routes
// as `openai_python.py`):
//   fake:<model>   prefix route, fake-cli echoes the prompt (models fake-1, fake-2)
//   sdk-stream     fake-cli --mode stream: reasoning `chunk0 `, text `chunk1 chunk2 `
//   sdk-fail       fake-cli --mode fail: exits 3 before answering -> 502
//   sdk-late-error fake-cli --mode report-error --exit 429: text `partial `, then an error

import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const SDK_DIR = new URL("../e2e/node_modules/openai/", import.meta.url);
if (!existsSync(SDK_DIR)) {
  console.error(
    `${fileURLToPath(SDK_DIR)} is missing: run scripts/test ` +
      "(or npm ci --prefix tests/e2e)",
  );
  process.exit(2);
}
const { default: OpenAI, APIError, AuthenticationError, InternalServerError, NotFoundError } =
  await import(new URL("index.mjs", SDK_DIR));
const { VERSION } = await import(new URL("version.mjs", SDK_DIR));

const ECHO = "fake:fake-1";
const STREAM = "sdk-stream";
const FAIL = "sdk-fail";
const LATE_ERROR = "sdk-late-error";
const ROUTED = [ECHO, "fake:fake-2", STREAM, FAIL, LATE_ERROR];
const HELLO = [{ role: "user", content: "hello" }];

function ok(what) {
  console.log(`ok: ${what}`);
}

const show = (value) => JSON.stringify(value);

/** Runs `call`, which must reject (or throw) with an instance of `type`; returns the error. */
async function expectError(what, type, call) {
  let result;
  try {
    result = await call();
  } catch (err) {
    assert.ok(
      err instanceof type,
      `${what}: expected ${type.name}, got ${err?.constructor?.name}: ${err?.stack ?? err}`,
    );
    return err;
  }
  assert.fail(`${what}: expected ${type.name}, but it succeeded with ${show(result)}`);
}

async function checkModels(client) {
  const ids = [];
  for await (const model of client.models.list()) {
    assert.equal(model.object, "model", show(model));
    ids.push(model.id);
  }
  const missing = ROUTED.filter((id) => !ids.includes(id));
  assert.deepEqual(missing, [], `models.list() lacks ${show(missing)}; it listed ${show(ids)}`);
  ok(`models.list() lists ${ROUTED.join(", ")}`);

  const model = await client.models.retrieve(ECHO);
  assert.deepEqual([model.id, model.object], [ECHO, "model"], show(model));
  const missing404 = await expectError("retrieving an unrouted model", NotFoundError, () =>
    client.models.retrieve("no-such-model"),
  );
  assert.equal(missing404.code, "model_not_found", show(missing404.error));
  ok("models.retrieve(): a routed model, and NotFoundError for an unrouted one");
}

async function checkCompletion(client) {
  const { data: completion, response } = await client.chat.completions
    .create({ model: ECHO, messages: HELLO })
    .withResponse();
  const headers = Object.fromEntries(response.headers);
  assert.ok(response.headers.get("x-request-id"), `no x-request-id header: ${show(headers)}`);
  assert.equal(response.headers.get("x-agent-cli-backend"), "fake", show(headers));
  assert.equal(completion.object, "chat.completion", show(completion));
  assert.equal(completion.model, ECHO, `model echoed as ${show(completion.model)}`);
  assert.equal(completion.choices.length, 1, show(completion.choices));
  const [choice] = completion.choices;
  assert.equal(choice.message.role, "assistant", show(choice.message));
  assert.equal(choice.message.content, "USER: hello", show(choice.message));
  assert.equal(choice.finish_reason, "stop", show(choice));
  assert.ok(completion.usage, `no usage: ${show(completion)}`);
  assert.equal(completion.usage.prompt_tokens, 3, show(completion.usage));
  assert.equal(completion.usage.completion_tokens, 4, show(completion.usage));
  assert.equal(completion.usage.total_tokens, 7, show(completion.usage));
  assert.equal(completion.usage.prompt_tokens_details?.cached_tokens, 1, show(completion.usage));
  // Not in the SDK's types, but the parsed JSON keeps it.
  assert.equal(completion.session_id, "fake-session-1", show(completion));
  ok("chat.completions.create: content, finish_reason, usage, session_id, headers");

  const folded = await client.chat.completions.create({ model: STREAM, messages: HELLO });
  const { message } = folded.choices[0];
  assert.equal(message.content, "chunk1 chunk2 ", show(message));
  assert.equal(message.reasoning_content, "chunk0 ", show(message));
  ok("chat.completions.create folds a streamed answer, reasoning in message.reasoning_content");
}

async function checkStream(client) {
  const stream = await client.chat.completions.create({
    model: STREAM,
    messages: HELLO,
    stream: true,
    stream_options: { include_usage: true },
  });
  const chunks = [];
  for await (const chunk of stream) chunks.push(chunk);
  assert.ok(chunks.length > 0, "the stream was empty");
  for (const chunk of chunks) {
    assert.equal(chunk.object, "chat.completion.chunk", show(chunk));
    assert.equal(chunk.model, STREAM, `chunk model ${show(chunk.model)}`);
  }
  const ids = [...new Set(chunks.map((c) => c.id))];
  assert.equal(ids.length, 1, `chunk ids differ: ${show(ids)}`);
  const deltas = chunks.filter((c) => c.choices.length > 0).map((c) => c.choices[0].delta);
  assert.equal(deltas[0].role, "assistant", `first delta ${show(deltas[0])}`);
  const content = deltas.map((d) => d.content ?? "").join("");
  assert.equal(content, "chunk1 chunk2 ", "streamed content");
  const reasoning = deltas.map((d) => d.reasoning_content ?? "").join("");
  assert.equal(reasoning, "chunk0 ", "streamed reasoning_content");
  const finishes = chunks
    .filter((c) => c.choices.length > 0 && c.choices[0].finish_reason)
    .map((c) => c.choices[0].finish_reason);
  assert.deepEqual(finishes, ["stop"], "finish reasons");
  const last = chunks.at(-1);
  assert.deepEqual(last.choices, [], `the usage chunk has choices: ${show(last)}`);
  assert.ok(last.usage, `the last chunk has no usage: ${show(last)}`);
  assert.equal(last.usage.prompt_tokens, 3, show(last.usage));
  assert.equal(last.usage.completion_tokens, 4, show(last.usage));
  assert.equal(last.usage.total_tokens, 7, show(last.usage));
  const early = chunks.slice(0, -1).filter((c) => c.usage != null);
  assert.deepEqual(early, [], "usage before the last chunk");
  ok(
    `streaming: role, content ${show(content)}, reasoning_content ${show(reasoning)}, ` +
      "finish_reason stop, usage last",
  );

  const plain = await client.chat.completions.create({ model: STREAM, messages: HELLO, stream: true });
  let text = "";
  for await (const chunk of plain) {
    assert.equal(chunk.usage ?? null, null, `usage chunk without include_usage: ${show(chunk)}`);
    if (chunk.choices.length > 0) text += chunk.choices[0].delta.content ?? "";
  }
  assert.equal(text, "chunk1 chunk2 ", "streamed content without stream_options");
  ok("streaming without stream_options: content, no usage chunk unless asked");

  // The SDK's own accumulator (chat.completions.stream) rebuilds the message
  // from the chunks and is stricter about their shape than a plain loop.
  const runner = client.chat.completions.stream({
    model: STREAM,
    messages: HELLO,
    stream_options: { include_usage: true },
  });
  const deltaEvents = [];
  runner.on("content", (delta) => deltaEvents.push(delta));
  const final = await runner.finalChatCompletion();
  assert.equal(final.choices.length, 1, show(final));
  assert.equal(final.choices[0].message.role, "assistant", show(final.choices[0]));
  assert.equal(final.choices[0].message.content, "chunk1 chunk2 ", show(final.choices[0]));
  assert.equal(final.choices[0].finish_reason, "stop", show(final.choices[0]));
  assert.equal(final.usage?.total_tokens, 7, show(final.usage));
  assert.equal(deltaEvents.join(""), "chunk1 chunk2 ", show(deltaEvents));
  ok("chat.completions.stream() helper: finalChatCompletion content, finish_reason, usage");
}

async function checkErrors(baseURL, apiKey) {
  // No retries: the SDK retries 408/409/429/5xx by default.
  const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 30_000 });

  const notFound = await expectError("an unknown model", NotFoundError, () =>
    client.chat.completions.create({ model: "no-such-model", messages: HELLO }),
  );
  assert.equal(notFound.status, 404, notFound.message);
  assert.equal(notFound.code, "model_not_found", show(notFound.error));
  assert.match(notFound.message, /no-such-model/);
  assert.ok(notFound.requestID, "no x-request-id on the 404 (error.requestID)");
  ok("unknown model -> NotFoundError 404 model_not_found");

  const bad = new OpenAI({ baseURL, apiKey: `${apiKey}-wrong`, maxRetries: 0, timeout: 30_000 });
  for (const [name, call] of [
    ["models.list", () => bad.models.list()],
    ["chat.completions.create", () => bad.chat.completions.create({ model: ECHO, messages: HELLO })],
  ]) {
    const err = await expectError(`${name} with a wrong API key`, AuthenticationError, call);
    assert.equal(err.status, 401, err.message);
    assert.equal(err.type, "authentication_error", show(err.error));
  }
  ok("wrong API key -> AuthenticationError 401 (models and chat)");

  const failed = await expectError("a failing CLI", APIError, () =>
    client.chat.completions.create({ model: FAIL, messages: HELLO }),
  );
  assert.equal(failed.status, 502, `status ${failed.status}: ${show(failed.error)}`);
  assert.ok(failed instanceof InternalServerError, failed.constructor.name);
  assert.equal(failed.type, "api_error", show(failed.error));
  assert.match(failed.message, /something broke/);
  assert.ok(failed.requestID, "no x-request-id on the 502 (error.requestID)");
  ok("CLI failure -> APIError (InternalServerError) 502");

  // The CLIs retry the model API themselves, so the gateway tells the SDK
  // (x-should-retry: false) not to run a failed CLI twice more.
  let sent = 0;
  const retrying = new OpenAI({
    baseURL,
    apiKey,
    maxRetries: 2,
    timeout: 30_000,
    fetch: (url, init) => {
      sent += 1;
      return fetch(url, init);
    },
  });
  const once = await expectError("a failing CLI with retries on", InternalServerError, () =>
    retrying.chat.completions.create({ model: FAIL, messages: HELLO }),
  );
  assert.equal(once.headers?.get?.("x-should-retry") ?? once.headers?.["x-should-retry"], "false");
  assert.equal(sent, 1, `the SDK sent ${sent} requests for one failed CLI run`);
  ok("CLI failure with maxRetries 2 -> one request (x-should-retry: false)");

  // Streaming, the gateway holds the headers until the CLI's first output,
  // so a CLI that fails before answering is a real HTTP 502, not a 200; the
  // SDK rejects the create() call itself.
  const failedStream = await expectError("a failing CLI (streaming)", APIError, async () => {
    const stream = await client.chat.completions.create({ model: FAIL, messages: HELLO, stream: true });
    let received = "";
    for await (const chunk of stream) {
      if (chunk.choices.length > 0) received += chunk.choices[0].delta.content ?? "";
    }
    return received;
  });
  assert.equal(failedStream.status, 502, `status ${failedStream.status}: ${show(failedStream.error)}`);
  assert.ok(failedStream instanceof InternalServerError, failedStream.constructor.name);
  assert.match(failedStream.message, /something broke/);
  assert.ok(failedStream.requestID, "no x-request-id on the streamed 502 (error.requestID)");
  ok("CLI failure before any output, streaming -> APIError (InternalServerError) 502");

  // After the first byte the status is 200; the error arrives as an SSE
  // `{"error": ...}` event, which the SDK throws from the iterator.
  const stream = await client.chat.completions.create({ model: LATE_ERROR, messages: HELLO, stream: true });
  let received = "";
  const late = await expectError("an error after the stream started", APIError, async () => {
    for await (const chunk of stream) {
      if (chunk.choices.length > 0) received += chunk.choices[0].delta.content ?? "";
    }
    return received;
  });
  assert.equal(late.status, undefined, `a mid-stream error must not carry an HTTP status: ${late.stack}`);
  assert.equal(received, "partial ", "received before the error");
  assert.match(late.message, /upstream said no/);
  assert.equal(late.type, "rate_limit_error", show(late.error));
  ok(`error after the stream started -> APIError while iterating, after ${show(received)}`);
}

async function main() {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: { "base-url": { type: "string" }, "api-key": { type: "string" } },
    strict: true,
  });
  const baseURL = values["base-url"];
  const apiKey = values["api-key"];
  if (!baseURL || !apiKey) {
    console.error("usage: node openai_node.mjs --base-url URL --api-key TOKEN");
    process.exit(2);
  }
  console.log(`openai (node) ${VERSION}, node ${process.version}`);
  const client = new OpenAI({ baseURL, apiKey, timeout: 30_000 });
  await checkModels(client);
  await checkCompletion(client);
  await checkStream(client);
  await checkErrors(baseURL, apiKey);
  console.log("all checks passed");
}

try {
  await main();
} catch (err) {
  console.error(err?.stack ?? err);
  process.exitCode = 1;
}
