#!/usr/bin/env python3
"""A tool round trip through the gateway with the official `openai` Python SDK.

Run by `tests/it/sdk.rs` against a gateway whose routes go to `http`
backends in front of the project's mock upstream, one per upstream dialect;
each model is put through the same round trip:

    python openai_python_tools.py --base-url http://127.0.0.1:PORT/v1 --api-key TOKEN \
        --models up:fake-model,ant:fake-model

The mock answers `USE_TOOL` with one call of the shell tool its dialect's CLI
knows (`shell`, `Bash` or `run_shell_command`, all offered here) and, once a
tool result is in the conversation, `tool result seen: <result>`.
"""
import argparse
import json

from openai import OpenAI

SHELLS = ("shell", "Bash", "run_shell_command")
TOOLS = [{
    "type": "function",
    "function": {
        "name": name,
        "description": "Run a shell command",
        "parameters": {"type": "object", "properties": {"command": {}}},
    },
} for name in SHELLS]
ASK = [{"role": "user", "content": "USE_TOOL please"}]


def ok(what):
    print("ok: " + what, flush=True)


def command_of(arguments):
    """The shell command of a call's arguments: a string, or argv's last word."""
    command = json.loads(arguments)["command"]
    return command[-1] if isinstance(command, list) else command


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--models", required=True)
    parser.add_argument("--embeddings-model", required=True)
    args = parser.parse_args()
    client = OpenAI(base_url=args.base_url, api_key=args.api_key, max_retries=0)
    for model in args.models.split(","):
        round_trip(client, model)
    embeddings(client, args.embeddings_model)
    print("all checks passed", flush=True)


def embeddings(client, model):
    # The SDK asks for base64 and decodes it: the gateway passes it through.
    got = client.embeddings.create(model=model, input=["ab", "c"])
    assert [e.embedding for e in got.data] == [[2.0, 97.0, 0.5], [1.0, 99.0, 0.5]], got
    ok(f"{model}: embeddings")


def round_trip(client, model):
    done = client.chat.completions.create(model=model, messages=ASK, tools=TOOLS)
    choice = done.choices[0]
    assert choice.finish_reason == "tool_calls", choice
    call = choice.message.tool_calls[0]
    assert call.function.name in SHELLS, call
    assert command_of(call.function.arguments) == "echo tool-ok", call
    ok(f"{model}: a tool call, whole")

    calls = {}
    finish = None
    for chunk in client.chat.completions.create(model=model, messages=ASK, tools=TOOLS, stream=True):
        if not chunk.choices:
            continue
        delta = chunk.choices[0].delta
        for piece in delta.tool_calls or []:
            entry = calls.setdefault(piece.index, {"id": None, "name": None, "arguments": ""})
            entry["id"] = piece.id or entry["id"]
            if piece.function and piece.function.name:
                entry["name"] = piece.function.name
            if piece.function and piece.function.arguments:
                entry["arguments"] += piece.function.arguments
        finish = chunk.choices[0].finish_reason or finish
    assert finish == "tool_calls", finish
    assert calls[0]["name"] == call.function.name and calls[0]["id"], calls
    assert command_of(calls[0]["arguments"]) == "echo tool-ok", calls
    ok(f"{model}: a tool call, streamed")

    followup = ASK + [
        {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
        {"role": "tool", "tool_call_id": call.id, "content": "tool-ok"},
    ]
    answer = client.chat.completions.create(model=model, messages=followup, tools=TOOLS)
    assert answer.choices[0].message.content == "tool result seen: tool-ok", answer
    assert answer.choices[0].finish_reason == "stop", answer
    assert answer.usage.total_tokens == 17, answer.usage
    ok(f"{model}: the tool result answered")

    think = [{"role": "user", "content": "THINK say hello"}]
    reasoning = ""
    text = ""
    for chunk in client.chat.completions.create(model=model, messages=think, stream=True):
        if chunk.choices:
            delta = chunk.choices[0].delta
            reasoning += (delta.model_extra or {}).get("reasoning_content") or ""
            text += delta.content or ""
    assert reasoning == "fake reasoning about the request", reasoning
    assert text == "hello from fake upstream", text
    ok(f"{model}: reasoning, streamed")


if __name__ == "__main__":
    main()
