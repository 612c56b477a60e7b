#!/usr/bin/env python3
"""The gateway's Responses endpoint through the official `openai` Python SDK:
`responses.create`, streamed and not, on a CLI backend; a tool round trip
through each HTTP backend in --models; `previous_response_id`; errors.

Run by `tests/it/sdk.rs`:

    python openai_python_responses.py --base-url http://127.0.0.1:PORT/v1 --api-key TOKEN \
        --plain-model fake:fake-1 --models up:fake-model,ant:fake-model

The mock upstream answers `USE_TOOL` with one call of the shell tool its
dialect's CLI knows (all are offered here) and, once a tool output is in
the conversation, `tool result seen: <result>`.
"""
import argparse
import json

import openai
from openai import OpenAI

SHELLS = ("shell_command", "Bash", "run_shell_command")
TOOLS = [{
    "type": "function",
    "name": name,
    "description": "Run a shell command",
    "parameters": {"type": "object", "properties": {"command": {}}},
} for name in SHELLS]


def ok(what):
    print("ok: " + what, flush=True)


def plain(client, model):
    response = client.responses.create(model=model, instructions="be brief", input="hello there")
    assert response.object == "response" and response.status == "completed", response
    assert "hello there" in response.output_text, response
    assert response.usage.input_tokens == 3 and response.usage.output_tokens == 4, response.usage
    assert response.usage.input_tokens_details.cached_tokens == 1, response.usage
    ok(f"{model}: responses.create")

    kinds, text, final = [], "", None
    for event in client.responses.create(model=model, input="stream it", stream=True):
        kinds.append(event.type)
        if event.type == "response.output_text.delta":
            text += event.delta
        if event.type == "response.completed":
            final = event.response
    assert kinds[:2] == ["response.created", "response.in_progress"], kinds
    assert kinds[-1] == "response.completed", kinds
    assert "stream it" in text and final.output_text == text, (text, final)
    ok(f"{model}: responses.create(stream=True)")

    with client.responses.stream(model=model, input="helper stream") as stream:
        final = stream.get_final_response()
    assert "helper stream" in final.output_text, final
    ok(f"{model}: responses.stream")

    second = client.responses.create(
        model=model, input="and PEAR", previous_response_id=response.id)
    assert "hello there" in second.output_text and "and PEAR" in second.output_text, second
    ok(f"{model}: previous_response_id")


def tool_round_trip(client, model):
    response = client.responses.create(model=model, input="USE_TOOL please", tools=TOOLS)
    calls = [item for item in response.output if item.type == "function_call"]
    assert len(calls) == 1, response
    assert json.loads(calls[0].arguments)["command"] == "echo tool-ok", calls[0]

    streamed = None
    for event in client.responses.create(
            model=model, input="USE_TOOL please", tools=TOOLS, stream=True):
        if event.type == "response.completed":
            streamed = event.response
    streamed_calls = [item for item in streamed.output if item.type == "function_call"]
    assert len(streamed_calls) == 1, streamed

    follow = client.responses.create(
        model=model, tools=TOOLS, previous_response_id=response.id,
        input=[{"type": "function_call_output", "call_id": calls[0].call_id,
                "output": "tool-ok\n"}],
    )
    assert follow.output_text == "tool result seen: tool-ok", follow
    ok(f"{model}: a tool round trip, streamed and not, continued by id")


def errors(client, upstream_model):
    try:
        client.responses.create(model="nobody:knows", input="hi")
        raise AssertionError("an unknown model was accepted")
    except openai.NotFoundError as e:
        assert "nobody:knows" in e.message, e.message
    try:
        client.responses.create(model=upstream_model, input="FAIL_400")
        raise AssertionError("the upstream's 400 was lost")
    except openai.BadRequestError as e:
        assert "FAIL_400 marker" in e.message, e.message
    ok("errors: not found, bad request")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--plain-model", required=True)
    parser.add_argument("--models", required=True)
    args = parser.parse_args()
    client = OpenAI(base_url=args.base_url, api_key=args.api_key, max_retries=0)
    plain(client, args.plain_model)
    models = args.models.split(",")
    for model in models:
        tool_round_trip(client, model)
    errors(client, models[0])
    print("all checks passed", flush=True)


if __name__ == "__main__":
    main()
