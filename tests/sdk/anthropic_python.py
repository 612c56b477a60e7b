#!/usr/bin/env python3
"""The gateway's Anthropic endpoints through the official `anthropic` Python
SDK: the model list, plain answers from a CLI backend, streamed and not; a
tool round trip through each HTTP backend in --models, streamed and not;
token counts; and errors as the SDK's own exception classes.

Run by `tests/it/sdk.rs`:

    python anthropic_python.py --base-url http://127.0.0.1:PORT/v1 --api-key TOKEN \
        --plain-model fake:fake-1 --models ant:fake-model,up:fake-model

(the SDK takes its base URL without `/v1`). The mock upstream answers
`USE_TOOL` with one call of the shell tool its dialect's CLI knows (all are
offered here) and, once a tool result is in the conversation,
`tool result seen: <result>`.
"""
import argparse

import anthropic

SHELLS = ("Bash", "shell", "shell_command", "run_shell_command")
TOOLS = [{
    "name": name,
    "description": "Run a shell command",
    "input_schema": {"type": "object", "properties": {"command": {}}},
} for name in SHELLS]
ASK = [{"role": "user", "content": "USE_TOOL please"}]


def ok(what):
    print("ok: " + what, flush=True)


def command_of(block):
    """The shell command of a tool_use block: a string, or argv's last word."""
    command = block.input["command"]
    return command[-1] if isinstance(command, list) else command


def model_list(client, model):
    listed = [m.id for m in client.models.list()]
    assert model in listed, listed
    one = client.models.retrieve(model)
    assert one.id == model and one.type == "model", one
    ok(f"models.list, models.retrieve({model})")


def plain(client, model):
    message = client.messages.create(
        model=model, max_tokens=64, system="be brief",
        messages=[{"role": "user", "content": "hello there"}],
    )
    assert message.type == "message" and message.role == "assistant", message
    assert "hello there" in message.content[0].text, message
    assert message.stop_reason == "end_turn", message
    # The fake CLI reports 3 prompt tokens, 1 read from the cache, 4 out.
    assert message.usage.input_tokens == 2, message.usage
    assert message.usage.cache_read_input_tokens == 1, message.usage
    assert message.usage.output_tokens == 4, message.usage
    ok(f"{model}: messages.create")

    with client.messages.stream(
        model=model, max_tokens=64, messages=[{"role": "user", "content": "stream it"}],
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert "stream it" in text, text
    assert final.content[0].text == text, final
    assert final.usage.output_tokens == 4, final.usage
    ok(f"{model}: messages.stream")


def tool_round_trip(client, model):
    message = client.messages.create(model=model, max_tokens=256, tools=TOOLS, messages=ASK)
    calls = [b for b in message.content if b.type == "tool_use"]
    assert len(calls) == 1, message
    assert command_of(calls[0]) == "echo tool-ok", calls[0]
    assert message.stop_reason == "tool_use", message

    with client.messages.stream(
        model=model, max_tokens=256, tools=TOOLS, messages=ASK,
    ) as stream:
        final = stream.get_final_message()
    streamed = [b for b in final.content if b.type == "tool_use"]
    assert len(streamed) == 1 and command_of(streamed[0]) == "echo tool-ok", final
    assert final.stop_reason == "tool_use", final

    call = calls[0]
    follow_up = ASK + [
        {"role": "assistant", "content": [b.model_dump() for b in message.content]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": call.id, "content": "tool-ok\n"},
        ]},
    ]
    answer = client.messages.create(model=model, max_tokens=256, tools=TOOLS, messages=follow_up)
    assert answer.content[0].text == "tool result seen: tool-ok", answer
    with client.messages.stream(
        model=model, max_tokens=256, tools=TOOLS, messages=follow_up,
    ) as stream:
        text = "".join(stream.text_stream)
    assert text == "tool result seen: tool-ok", text
    ok(f"{model}: a tool round trip, streamed and not")


def counts(client, plain_model, upstream_model):
    for model in (plain_model, upstream_model):
        count = client.messages.count_tokens(
            model=model, system="be brief", tools=TOOLS,
            messages=[{"role": "user", "content": "count these words please"}],
        )
        assert count.input_tokens > 10, count
        ok(f"{model}: messages.count_tokens = {count.input_tokens}")


def errors(base_url, api_key, plain_model, upstream_model):
    wrong = anthropic.Anthropic(base_url=base_url, api_key="wrong-key", max_retries=0)
    try:
        wrong.messages.create(model=plain_model, max_tokens=5,
                              messages=[{"role": "user", "content": "hi"}])
        raise AssertionError("a wrong key was accepted")
    except anthropic.AuthenticationError as e:
        assert e.status_code == 401 and e.body["error"]["type"] == "authentication_error", e.body
    client = anthropic.Anthropic(base_url=base_url, api_key=api_key, max_retries=0)
    try:
        client.messages.create(model="nobody:knows", max_tokens=5,
                               messages=[{"role": "user", "content": "hi"}])
        raise AssertionError("an unknown model was accepted")
    except anthropic.NotFoundError as e:
        assert "nobody:knows" in e.message, e.message
    try:
        client.messages.create(model=upstream_model, max_tokens=5,
                               messages=[{"role": "user", "content": "FAIL_400"}])
        raise AssertionError("the upstream's 400 was lost")
    except anthropic.BadRequestError as e:
        assert "FAIL_400 marker" in e.message, e.message
    try:
        client.messages.create(model=upstream_model, max_tokens=5,
                               messages=[{"role": "user", "content": "FAIL_429"}])
        raise AssertionError("the upstream's 429 was lost")
    except anthropic.RateLimitError as e:
        assert e.response.headers["retry-after"] == "7", e.response.headers
    ok("errors: authentication, not found, bad request, rate limit")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--plain-model", required=True)
    parser.add_argument("--models", required=True)
    args = parser.parse_args()
    base_url = args.base_url.removesuffix("/v1")
    client = anthropic.Anthropic(base_url=base_url, api_key=args.api_key, max_retries=0)
    model_list(client, args.plain_model)
    plain(client, args.plain_model)
    models = args.models.split(",")
    for model in models:
        tool_round_trip(client, model)
    counts(client, args.plain_model, models[0])
    errors(base_url, args.api_key, args.plain_model, models[0])
    print("all checks passed", flush=True)


if __name__ == "__main__":
    main()
