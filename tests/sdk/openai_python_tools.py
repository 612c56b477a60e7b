#!/usr/bin/env python3
"""A tool round trip through the gateway with the official `openai` Python SDK.

Run by `tests/it/sdk.rs` against a gateway whose `up:` routes go to an `http`
backend in front of the project's mock upstream (Chat Completions):

    python openai_python_tools.py --base-url http://127.0.0.1:PORT/v1 --api-key TOKEN

The mock answers `USE_TOOL` with one call of the offered `shell` tool and,
once a tool result is in the conversation, `tool result seen: <result>`.
"""
import argparse
import json

from openai import OpenAI

MODEL = "up:fake-model"
TOOLS = [{
    "type": "function",
    "function": {
        "name": "shell",
        "description": "Run a shell command",
        "parameters": {"type": "object", "properties": {"command": {"type": "array"}}},
    },
}]
ASK = [{"role": "user", "content": "USE_TOOL please"}]


def ok(what):
    print("ok: " + what, flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--api-key", required=True)
    args = parser.parse_args()
    client = OpenAI(base_url=args.base_url, api_key=args.api_key, max_retries=0)

    done = client.chat.completions.create(model=MODEL, messages=ASK, tools=TOOLS)
    choice = done.choices[0]
    assert choice.finish_reason == "tool_calls", choice
    call = choice.message.tool_calls[0]
    assert call.function.name == "shell", call
    assert json.loads(call.function.arguments)["command"][-1] == "echo tool-ok", call
    ok("a tool call, whole")

    calls = {}
    finish = None
    for chunk in client.chat.completions.create(model=MODEL, messages=ASK, tools=TOOLS, stream=True):
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
    assert calls[0]["name"] == "shell" and calls[0]["id"], calls
    assert json.loads(calls[0]["arguments"])["command"][-1] == "echo tool-ok", calls
    ok("a tool call, streamed")

    followup = ASK + [
        {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
        {"role": "tool", "tool_call_id": call.id, "content": "tool-ok"},
    ]
    answer = client.chat.completions.create(model=MODEL, messages=followup, tools=TOOLS)
    assert answer.choices[0].message.content == "tool result seen: tool-ok", answer
    assert answer.choices[0].finish_reason == "stop", answer
    assert answer.usage.total_tokens == 17, answer.usage
    ok("the tool result answered")
    print("all checks passed", flush=True)


if __name__ == "__main__":
    main()
