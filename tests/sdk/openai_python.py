#!/usr/bin/env python3
"""The gateway through the official `openai` Python SDK, end to end.

Run by `tests/it/sdk.rs` against a gateway serving the fake CLI
(`tests/fixtures/bin/fake-cli`) with the routes named below:

    python openai_python.py --base-url http://127.0.0.1:PORT/v1 --api-key TOKEN

Prints one `ok: ...` line per check; the first failed check raises (plain
`assert`) and the script exits non-zero with a traceback.

The route names must match the config in `tests/it/sdk.rs`:
  fake:<model>   prefix route, fake-cli echoes the prompt (models fake-1, fake-2)
  sdk-stream     fake-cli --mode stream: reasoning `chunk0 `, text `chunk1 chunk2 `
  sdk-fail       fake-cli --mode fail: exits 3 before answering -> 502
  sdk-late-error fake-cli --mode report-error --exit 429: text `partial `, then an error
"""
import argparse
import asyncio
import sys

import openai
from openai import OpenAI, AsyncOpenAI

ECHO = "fake:fake-1"
STREAM = "sdk-stream"
FAIL = "sdk-fail"
LATE_ERROR = "sdk-late-error"
ROUTED = [ECHO, "fake:fake-2", STREAM, FAIL, LATE_ERROR]
HELLO = [{"role": "user", "content": "hello"}]


def ok(what):
    print("ok: " + what, flush=True)


def extra(model, name):
    """A field the SDK's types do not declare (kept by pydantic as an extra)."""
    value = getattr(model, name, None)
    if value is None and model.model_extra:
        value = model.model_extra.get(name)
    return value


def check_models(client):
    ids = [m.id for m in client.models.list()]
    missing = [m for m in ROUTED if m not in ids]
    assert not missing, "models.list() lacks %r; it listed %r" % (missing, ids)
    ok("models.list() lists %s" % ", ".join(ROUTED))

    model = client.models.retrieve(ECHO)
    assert (model.id, model.object) == (ECHO, "model"), model
    try:
        client.models.retrieve("no-such-model")
    except openai.NotFoundError as e:
        assert e.code == "model_not_found", e.body
    else:
        raise AssertionError("retrieving an unrouted model did not raise NotFoundError")
    ok("models.retrieve(): a routed model, and NotFoundError for an unrouted one")


def check_completion(client):
    raw = client.chat.completions.with_raw_response.create(model=ECHO, messages=HELLO)
    assert raw.headers.get("x-request-id"), "no x-request-id header: %r" % dict(raw.headers)
    assert raw.headers.get("x-agent-cli-backend") == "fake", dict(raw.headers)
    completion = raw.parse()
    assert completion.object == "chat.completion", completion
    assert completion.model == ECHO, "model echoed as %r" % completion.model
    assert len(completion.choices) == 1, completion.choices
    choice = completion.choices[0]
    assert choice.message.role == "assistant", choice.message
    assert choice.message.content == "USER: hello", "content %r" % choice.message.content
    assert choice.finish_reason == "stop", "finish_reason %r" % choice.finish_reason
    assert completion.usage is not None, "no usage: %r" % completion
    assert completion.usage.prompt_tokens == 3, completion.usage
    assert completion.usage.completion_tokens == 4, completion.usage
    assert completion.usage.total_tokens == 7, completion.usage
    cached = completion.usage.prompt_tokens_details
    assert cached is not None and cached.cached_tokens == 1, completion.usage
    assert extra(completion, "session_id") == "fake-session-1", completion.model_extra
    ok("chat.completions.create: content, finish_reason, usage, session_id, headers")

    folded = client.chat.completions.create(model=STREAM, messages=HELLO)
    message = folded.choices[0].message
    assert message.content == "chunk1 chunk2 ", "content %r" % message.content
    assert extra(message, "reasoning_content") == "chunk0 ", message.model_extra
    ok("chat.completions.create folds a streamed answer, reasoning in message.reasoning_content")


def check_stream(client):
    stream = client.chat.completions.create(
        model=STREAM,
        messages=HELLO,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert chunks, "the stream was empty"
    for chunk in chunks:
        assert chunk.object == "chat.completion.chunk", chunk
        assert chunk.model == STREAM, "chunk model %r" % chunk.model
    assert len({c.id for c in chunks}) == 1, "chunk ids differ: %r" % {c.id for c in chunks}
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    assert deltas[0].role == "assistant", "first delta %r" % deltas[0]
    content = "".join(d.content or "" for d in deltas)
    assert content == "chunk1 chunk2 ", "streamed content %r" % content
    reasoning = "".join(extra(d, "reasoning_content") or "" for d in deltas)
    assert reasoning == "chunk0 ", "streamed reasoning %r" % reasoning
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"], "finish reasons %r" % finishes
    last = chunks[-1]
    assert last.choices == [], "the usage chunk has choices: %r" % last
    assert last.usage is not None, "the last chunk has no usage: %r" % last
    assert last.usage.total_tokens == 7, last.usage
    assert (last.usage.prompt_tokens, last.usage.completion_tokens) == (3, 4), last.usage
    assert all(c.usage is None for c in chunks[:-1]), "usage before the last chunk"
    ok("streaming: role, content %r, reasoning_content %r, finish_reason stop, usage last" % (content, reasoning))


async def check_async_stream(base_url, api_key):
    client = AsyncOpenAI(base_url=base_url, api_key=api_key, max_retries=0)
    try:
        stream = await client.chat.completions.create(model=STREAM, messages=HELLO, stream=True)
        content = ""
        async for chunk in stream:
            assert chunk.usage is None, "usage chunk without include_usage: %r" % chunk
            if chunk.choices:
                content += chunk.choices[0].delta.content or ""
        assert content == "chunk1 chunk2 ", "async streamed content %r" % content
    finally:
        await client.close()
    ok("AsyncOpenAI streaming: content, no usage chunk unless asked")


def check_errors(base_url, api_key):
    # No retries: the SDK retries 408/409/429/5xx by default.
    client = OpenAI(base_url=base_url, api_key=api_key, max_retries=0)

    try:
        client.chat.completions.create(model="no-such-model", messages=HELLO)
    except openai.NotFoundError as e:
        assert e.status_code == 404, e
        assert e.code == "model_not_found", "code %r, body %r" % (e.code, e.body)
        assert "no-such-model" in e.message, e.message
    else:
        raise AssertionError("an unknown model did not raise NotFoundError")
    ok("unknown model -> openai.NotFoundError 404 model_not_found")

    bad = OpenAI(base_url=base_url, api_key=api_key + "-wrong", max_retries=0)
    for name, call in [
        ("models.list", lambda: bad.models.list()),
        ("chat.completions.create", lambda: bad.chat.completions.create(model=ECHO, messages=HELLO)),
    ]:
        try:
            call()
        except openai.AuthenticationError as e:
            assert e.status_code == 401, e
            assert e.type == "authentication_error", e.body
        else:
            raise AssertionError("%s with a wrong API key did not raise AuthenticationError" % name)
    ok("wrong API key -> openai.AuthenticationError 401 (models and chat)")

    try:
        client.chat.completions.create(model=FAIL, messages=HELLO)
    except openai.APIStatusError as e:
        assert e.status_code == 502, "status %r: %r" % (e.status_code, e.body)
        assert isinstance(e, openai.InternalServerError), type(e)
        assert e.type == "api_error", e.body
        assert "something broke" in e.message, e.message
    else:
        raise AssertionError("a failing CLI did not raise APIStatusError")
    ok("CLI failure -> openai.APIStatusError 502")

    # The CLIs retry the model API themselves, so the gateway tells the SDK
    # (x-should-retry: false) not to run a failed CLI twice more.
    sent = []
    retrying = OpenAI(
        base_url=base_url,
        api_key=api_key,
        max_retries=2,
        http_client=openai.DefaultHttpxClient(event_hooks={"request": [sent.append]}),
    )
    try:
        retrying.chat.completions.create(model=FAIL, messages=HELLO)
    except openai.InternalServerError as e:
        assert e.response.headers.get("x-should-retry") == "false", dict(e.response.headers)
    else:
        raise AssertionError("a failing CLI did not raise InternalServerError")
    assert len(sent) == 1, "the SDK sent %d requests for one failed CLI run" % len(sent)
    ok("CLI failure with max_retries=2 -> one request (x-should-retry: false)")

    # Streaming, the gateway holds the headers until the CLI's first output,
    # so a CLI that fails before answering is a real HTTP 502, not a 200.
    try:
        received = "".join(
            c.choices[0].delta.content or ""
            for c in client.chat.completions.create(model=FAIL, messages=HELLO, stream=True)
            if c.choices
        )
    except openai.APIStatusError as e:
        assert e.status_code == 502, "status %r: %r" % (e.status_code, e.body)
        assert "something broke" in e.message, e.message
    else:
        raise AssertionError("a failing CLI (streaming) raised nothing; got %r" % received)
    ok("CLI failure before any output, streaming -> openai.APIStatusError 502")

    stream = client.chat.completions.create(model=LATE_ERROR, messages=HELLO, stream=True)
    received = ""
    try:
        for chunk in stream:
            if chunk.choices:
                received += chunk.choices[0].delta.content or ""
    except openai.APIStatusError as e:
        raise AssertionError("a mid-stream error must not look like an HTTP status: %r" % e)
    except openai.APIError as e:
        assert received == "partial ", "received before the error: %r" % received
        assert "upstream said no" in e.message, e.message
        assert isinstance(e.body, dict) and e.body.get("type") == "rate_limit_error", e.body
    else:
        raise AssertionError("an error after the stream started was not raised; got %r" % received)
    ok("error after the stream started -> openai.APIError while iterating, after %r" % received)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--api-key", required=True)
    args = parser.parse_args()
    if not __debug__:
        sys.exit("run without -O: the checks are assert statements")
    print("openai %s" % openai.__version__, flush=True)
    client = OpenAI(base_url=args.base_url, api_key=args.api_key)
    check_models(client)
    check_completion(client)
    check_stream(client)
    asyncio.run(check_async_stream(args.base_url, args.api_key))
    check_errors(args.base_url, args.api_key)
    print("all checks passed", flush=True)


if __name__ == "__main__":
    main()
