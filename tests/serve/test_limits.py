"""Bad input, a full queue, clients that leave, and addresses that are not loopback."""

from __future__ import annotations

import json
import threading

import httpx
import pytest

from tests.fakes import FakeModel
from tests.serve.conftest import wait_for

MODEL = "smollm2-135m-instruct"
CHAT = {"model": MODEL, "messages": [{"role": "user", "content": "hello"}], "max_tokens": 4}


def _post(server, path: str, **kwargs) -> httpx.Response:
    headers = {"Authorization": f"Bearer {server.token}", **kwargs.pop("headers", {})}
    kwargs.setdefault("timeout", 60)
    return httpx.post(server.urls[0] + path, headers=headers, **kwargs)


def _error(response: httpx.Response) -> str:
    return response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        (b'{"model": "x", "messages": [', 400, "not valid JSON"),
        (b"\xff\xfe not utf-8", 400, "not valid JSON"),
        (b"[1, 2]", 400, "must be a JSON object"),
        (json.dumps({**CHAT, "max_tokens": 10**9}).encode(), 400, "max_tokens"),
        (json.dumps({**CHAT, "temperature": -1}).encode(), 400, "temperature"),
        (json.dumps({**CHAT, "n": 50}).encode(), 400, "n:"),
        (json.dumps({**CHAT, "frobnicate": True}).encode(), 400, "unknown field 'frobnicate'"),
        (json.dumps({**CHAT, "inkwell": {"task": "poem"}}).encode(), 400, "unknown task 'poem'"),
        (json.dumps({**CHAT, "inkwell": {"colour": 1}}).encode(), 400, "'inkwell.colour'"),
        (json.dumps({**CHAT, "tools": [{"type": "function"}]}).encode(), 400, "not supported"),
        (json.dumps({**CHAT, "messages": []}).encode(), 400, "messages"),
        (json.dumps({**CHAT, "messages": [{"role": "system", "content": "x"}]}).encode(), 400,
         "no message has the role 'user'"),
        (json.dumps({**CHAT, "messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "data:"}}]}]}).encode(), 400,
         "only text"),
        (json.dumps({**CHAT, "model": MODEL + "+adapter", "inkwell": {"method": "rag"}}).encode(),
         400, "asks for peft"),
        (json.dumps({**CHAT, "messages": [{"role": "user", "content": "word " * 60_000}]}).encode(),
         400, "too long for the model's context"),
        (json.dumps({**CHAT, "messages": [{"role": "user", "content": "x" * 10_000_000}]}).encode(),
         413, "larger than"),
    ],
    ids=["truncated", "not-utf8", "not-object", "huge-max-tokens", "negative-temperature",
         "huge-n", "unknown-field", "unknown-task", "unknown-extension-field", "tools",
         "no-messages", "no-user-message", "image", "method-conflict", "over-context", "10MB"],
)
def test_bad_input_gets_a_clear_4xx_and_the_server_stays_up(server, body, status, says) -> None:
    response = _post(server, "/chat/completions", content=body,
                     headers={"Content-Type": "application/json"})
    assert response.status_code == status, response.text
    assert says in _error(response)
    assert _post(server, "/chat/completions", json=CHAT).status_code == 200


def test_fields_editors_send_are_accepted(server) -> None:
    extra = {"frequency_penalty": 0, "presence_penalty": 0, "user": "me", "top_p": 0.9,
             "stream_options": {"include_usage": True}, "tools": [], "stop": "\n\n"}
    assert _post(server, "/chat/completions", json={**CHAT, **extra}).status_code == 200


def test_unknown_route_and_method_are_openai_shaped_errors(server) -> None:
    headers = {"Authorization": f"Bearer {server.token}"}
    missing = httpx.get(server.urls[0] + "/embeddings", headers=headers)
    assert missing.status_code == 404 and "error" in missing.json()
    wrong = httpx.get(server.urls[0] + "/chat/completions", headers=headers)
    assert wrong.status_code == 405 and "error" in wrong.json()


@pytest.fixture
def slow_server(serve_home):
    """A server whose (fake) model writes one word per 50 ms, with room for one waiting
    request: the queue and cancel tests time the model, llama.cpp would not hold still."""
    from core.serve.app import Service
    from core.serve.server import InkwellServer

    runtime = FakeModel(seconds_per_token=0.05)
    service = Service(serve_home, serve_home.profile("default"), max_waiting=1,
                      runtime_for=lambda _model: runtime)
    server = InkwellServer(service, "127.0.0.1", 0)
    server.start()
    yield server, runtime
    server.stop()


def test_full_queue_gets_429_at_once_and_the_waiting_request_is_answered(slow_server) -> None:
    server, runtime = slow_server
    answers: list[httpx.Response] = []
    long = {**CHAT, "max_tokens": 40}  # 2 s of words
    first = threading.Thread(target=lambda: answers.append(
        _post(server, "/chat/completions", json=long)), daemon=True)
    first.start()
    wait_for(lambda: runtime.prompts)
    second = threading.Thread(target=lambda: answers.append(
        _post(server, "/chat/completions", json=CHAT)), daemon=True)
    second.start()
    wait_for(lambda: server.service.gate(MODEL)._admitted == 2)
    busy = _post(server, "/chat/completions", json=CHAT)
    assert busy.status_code == 429 and busy.headers["Retry-After"] == "1"
    assert "busy" in _error(busy)
    first.join()
    second.join()
    assert [a.status_code for a in answers] == [200, 200]
    assert server.service.stats["busy"] == 1


def test_a_client_that_leaves_mid_stream_stops_the_generation(slow_server) -> None:
    server, _model = slow_server
    body = {**CHAT, "max_tokens": 2000, "stream": True}  # 100 s of words if nobody stopped it
    with httpx.stream("POST", server.urls[0] + "/chat/completions", json=body, timeout=60,
                      headers={"Authorization": f"Bearer {server.token}"}) as response:
        chunks = (json.loads(line[6:]) for line in response.iter_lines()
                  if line.startswith("data: {"))
        assert next(c for c in chunks if c["choices"][0]["delta"].get("content"))
    # The client hung up: the model stops at the next word and is free again (had it
    # written on, this request would wait 100 s behind it and time out).
    wait_for(lambda: server.service.stats["cancelled"] == 1, timeout_s=10)
    assert _post(server, "/chat/completions", json=CHAT, timeout=10).status_code == 200


def test_a_client_that_leaves_while_waiting_gives_up_its_place(slow_server) -> None:
    server, runtime = slow_server
    done = threading.Thread(target=lambda: _post(server, "/chat/completions",
                                                 json={**CHAT, "max_tokens": 30}), daemon=True)
    done.start()
    wait_for(lambda: runtime.prompts)
    with pytest.raises(httpx.TimeoutException):  # it leaves while queued behind the first
        _post(server, "/chat/completions", json=CHAT, timeout=0.3)
    done.join()
    # Its place was given back and nothing ran for it: the next request is answered.
    wait_for(lambda: server.service.gate(MODEL)._admitted == 0)
    assert _post(server, "/chat/completions", json=CHAT).status_code == 200
    # Counted when the request's turn ends, which is just after its answer was sent.
    wait_for(lambda: server.service.stats["answered"] == 2)


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "::", "example.com"])
def test_refuses_to_listen_anywhere_but_loopback(serve_home, host: str) -> None:
    from core.errors import InkwellError
    from core.serve.app import Service
    from core.serve.server import InkwellServer

    with pytest.raises(InkwellError, match="loopback only"):
        InkwellServer(Service(serve_home, serve_home.profile("default")), host, 0)


def test_token_file_is_private_and_stable(serve_home, server) -> None:
    from core.serve.token import load_token, token_file

    assert token_file(serve_home).stat().st_mode & 0o777 == 0o600
    assert load_token(serve_home) == server.token


def test_stop_and_max_tokens_reach_the_model(slow_server) -> None:
    server, _model = slow_server
    stopped = _post(server, "/chat/completions", json={**CHAT, "max_tokens": 30,
                                                       "stop": ["quiet"]})
    assert stopped.json()["choices"][0]["message"]["content"] == "The harbour was"
    capped = _post(server, "/chat/completions", json={**CHAT, "max_tokens": 3}).json()
    assert capped["choices"][0]["message"]["content"] == "The harbour was"
    assert capped["choices"][0]["finish_reason"] == "length"
    assert capped["usage"]["completion_tokens"] == 3


def test_stopping_the_server_stops_a_running_generation(serve_home) -> None:
    from core.serve.app import Service
    from core.serve.server import InkwellServer

    model = FakeModel(seconds_per_token=0.05)
    server = InkwellServer(Service(serve_home, serve_home.profile("default"),
                                   runtime_for=lambda _model: model), "127.0.0.1", 0)
    server.start()
    body = {**CHAT, "max_tokens": 2000, "stream": True}  # 100 s of words
    with httpx.stream("POST", server.urls[0] + "/chat/completions", json=body, timeout=60,
                      headers={"Authorization": f"Bearer {server.token}"}) as response:
        wait_for(lambda: server.service.running)
        server.stop()
        assert "data: [DONE]" in list(response.iter_lines())  # the stream ends, cleanly
    assert not server.running
    assert server.service.stats["cancelled"] == 1
