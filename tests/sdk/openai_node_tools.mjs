// A tool round trip through the gateway with the official `openai` Node SDK.
// Run by `tests/it/sdk.rs` like `openai_python_tools.py` (same routes, same mock):
//   node openai_node_tools.mjs --base-url http://127.0.0.1:PORT/v1 --api-key TOKEN
import assert from "node:assert/strict";

// The pinned SDK that scripts/test installs (see openai_node.mjs).
const { default: OpenAI } = await import(
  new URL("../e2e/node_modules/openai/index.mjs", import.meta.url)
);

const arg = (name) => process.argv[process.argv.indexOf(name) + 1];
const client = new OpenAI({ baseURL: arg("--base-url"), apiKey: arg("--api-key"), maxRetries: 0 });
const model = "up:fake-model";
const tools = [{
  type: "function",
  function: { name: "shell", description: "Run a shell command", parameters: { type: "object" } },
}];
const ask = [{ role: "user", content: "USE_TOOL please" }];
const ok = (what) => console.log(`ok: ${what}`);

const done = await client.chat.completions.create({ model, messages: ask, tools });
assert.equal(done.choices[0].finish_reason, "tool_calls");
const call = done.choices[0].message.tool_calls[0];
assert.equal(call.function.name, "shell");
assert.equal(JSON.parse(call.function.arguments).command.at(-1), "echo tool-ok");
ok("a tool call, whole");

const stream = await client.chat.completions.create({ model, messages: ask, tools, stream: true });
let name = null, id = null, args = "", finish = null;
for await (const chunk of stream) {
  const choice = chunk.choices[0];
  if (!choice) continue;
  for (const piece of choice.delta.tool_calls ?? []) {
    id = piece.id ?? id;
    name = piece.function?.name || name;
    args += piece.function?.arguments ?? "";
  }
  finish = choice.finish_reason ?? finish;
}
assert.equal(finish, "tool_calls");
assert.equal(name, "shell");
assert.ok(id);
assert.equal(JSON.parse(args).command.at(-1), "echo tool-ok");
ok("a tool call, streamed");

const answer = await client.chat.completions.create({
  model,
  tools,
  messages: [...ask, { role: "assistant", content: null, tool_calls: [call] },
             { role: "tool", tool_call_id: call.id, content: "tool-ok" }],
});
assert.equal(answer.choices[0].message.content, "tool result seen: tool-ok");
ok("the tool result answered");
console.log("all checks passed");
