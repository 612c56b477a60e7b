// A tool round trip through the gateway with the official `openai` Node SDK.
// Run by `tests/it/sdk.rs` like `openai_python_tools.py` (same routes, same mock,
// one round trip per model):
//   node openai_node_tools.mjs --base-url http://127.0.0.1:PORT/v1 --api-key TOKEN \
//     --models up:fake-model,ant:fake-model
import assert from "node:assert/strict";

// The pinned SDK that scripts/test installs (see openai_node.mjs).
const { default: OpenAI } = await import(
  new URL("../e2e/node_modules/openai/index.mjs", import.meta.url)
);

const arg = (name) => process.argv[process.argv.indexOf(name) + 1];
const client = new OpenAI({ baseURL: arg("--base-url"), apiKey: arg("--api-key"), maxRetries: 0 });
const shells = ["shell", "Bash", "run_shell_command"];
const tools = shells.map((name) => ({
  type: "function",
  function: { name, description: "Run a shell command", parameters: { type: "object" } },
}));
const ask = [{ role: "user", content: "USE_TOOL please" }];
const ok = (what) => console.log(`ok: ${what}`);
// The shell command of a call's arguments: a string, or argv's last word.
const commandOf = (args) => {
  const command = JSON.parse(args).command;
  return Array.isArray(command) ? command.at(-1) : command;
};

async function roundTrip(model) {
  const done = await client.chat.completions.create({ model, messages: ask, tools });
  assert.equal(done.choices[0].finish_reason, "tool_calls");
  const call = done.choices[0].message.tool_calls[0];
  assert.ok(shells.includes(call.function.name));
  assert.equal(commandOf(call.function.arguments), "echo tool-ok");
  ok(`${model}: a tool call, whole`);

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
  assert.equal(name, call.function.name);
  assert.ok(id);
  assert.equal(commandOf(args), "echo tool-ok");
  ok(`${model}: a tool call, streamed`);

  const answer = await client.chat.completions.create({
    model,
    tools,
    messages: [...ask, { role: "assistant", content: null, tool_calls: [call] },
               { role: "tool", tool_call_id: call.id, content: "tool-ok" }],
  });
  assert.equal(answer.choices[0].message.content, "tool result seen: tool-ok");
  ok(`${model}: the tool result answered`);
}

for (const model of arg("--models").split(",")) {
  await roundTrip(model);
}
console.log("all checks passed");
