"""What travels on the wire: the OpenAI requests Inkwell accepts, model ids, response bodies.

Requests are validated strictly (an unknown field, a ``max_tokens`` past the
limit or a non-text message part is a 400 naming the field), except for the
fields editors routinely send that have no meaning here (penalties, ``user``,
empty tool lists): those are accepted and ignored, so a plugin does not break
on them.  Inkwell's own choices travel in an ``inkwell`` extension object, in
the request (method, task, retrieval) and in the response (the sources used).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from core.prompts import SPECS
from core.writer import Method

MAX_BODY_BYTES = 1 << 20  # far more text than any bundled model's context holds
MAX_TOKENS = 2048  # the longest answer the Settings panel allows
MAX_N = 5
MAX_STOPS = 4  # as OpenAI's API

# A model id is an installed model's name, optionally with the personalization it asks for.
SUFFIXES: tuple[tuple[str, Method], ...] = (
    ("+rag+adapter", Method.RAG_PEFT),
    ("+adapter", Method.PEFT),
    ("+rag", Method.RAG),
)

# Sent by common editor plugins; no meaning for Inkwell's sampling, so accepted and ignored.
IGNORED_FIELDS = frozenset({
    "frequency_penalty", "presence_penalty", "logit_bias", "user", "stream_options",
    "metadata", "store", "service_tier", "parallel_tool_calls", "prompt_cache_key",
    "reasoning_effort",
})
# Accepted only when they ask for nothing (an empty list, "none").
UNSUPPORTED_UNLESS_EMPTY = ("tools", "functions", "tool_choice", "function_call")


class ApiError(Exception):
    """An error answered as OpenAI's error body with an HTTP status."""

    def __init__(self, status: int, message: str, kind: str = "invalid_request_error",
                 param: str | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.kind = kind
        self.param = param
        self.headers = headers

    def body(self) -> dict[str, Any]:
        return error_body(self.message, self.kind, self.param)


def error_body(message: str, kind: str, param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": param, "code": None}}


def model_id(name: str, method: Method) -> str:
    suffix = next((s for s, m in SUFFIXES if m == method), "")
    return name + suffix


def parse_model_id(value: str) -> tuple[str, Method]:
    """``smollm2+rag`` -> (``smollm2``, rag); a bare name is the non-personalized model."""
    for suffix, method in SUFFIXES:
        if value.endswith(suffix) and len(value) > len(suffix):
            return value[: -len(suffix)], method
    return value, Method.NONE


class InkwellOptions(BaseModel):
    """The ``inkwell`` extension of a request: what the Write panel would let the user choose."""

    model_config = ConfigDict(extra="forbid")

    method: Method | None = None  # overrides the model id's suffix; must agree with it if both
    task: str = "free"
    retriever: Literal["bm25", "dense", "hybrid"] | None = None
    k: int | None = Field(default=None, ge=0, le=20)
    adapter: str | None = None  # an adapter id of the profile (default: its active adapter)

    @field_validator("task")
    @classmethod
    def _known_task(cls, task: str) -> str:
        if task not in SPECS:
            raise ValueError(f"unknown task {task!r}; known: {', '.join(SPECS)}")
        return task


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: str
    text: str | None = None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")  # name, tool_call_id ... are not used

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = None

    def text(self) -> str:
        if self.content is None or isinstance(self.content, str):
            return self.content or ""
        for part in self.content:
            if part.type != "text":
                raise ValueError(f"a {part.type!r} content part: only text is supported")
        return "\n".join(part.text or "" for part in self.content)


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1)
    stream: bool = False
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    top_p: float | None = Field(default=None, gt=0.0, le=1.0)
    max_tokens: int | None = Field(default=None, ge=1, le=MAX_TOKENS)
    max_completion_tokens: int | None = Field(default=None, ge=1, le=MAX_TOKENS)
    stop: list[str] = Field(default_factory=list, max_length=MAX_STOPS)
    seed: int | None = None
    n: int = Field(default=1, ge=1, le=MAX_N)
    inkwell: InkwellOptions = Field(default_factory=InkwellOptions)

    @model_validator(mode="before")
    @classmethod
    def _drop_ignored(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        for name in UNSUPPORTED_UNLESS_EMPTY:
            if data.get(name) not in (None, [], "none"):
                raise ValueError(f"{name}: tools and function calling are not supported")
        return {
            k: v for k, v in data.items()
            if k not in IGNORED_FIELDS and k not in UNSUPPORTED_UNLESS_EMPTY
        }

    @field_validator("stop", mode="before")
    @classmethod
    def _stop_list(cls, stop: Any) -> Any:
        if stop is None:
            return []
        return [stop] if isinstance(stop, str) else stop

    @property
    def answer_tokens(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens

    def text(self) -> str:
        raise NotImplementedError


class ChatRequest(_Request):
    messages: list[ChatMessage] = Field(min_length=1)

    def text(self) -> str:
        """The request is the last user message: Inkwell builds its own prompt around it
        (the task's instruction, the retrieved items) as the Write panel does."""
        for message in reversed(self.messages):
            if message.role == "user":
                return message.text()
        raise ValueError("messages: no message has the role 'user'")


class CompletionRequest(_Request):
    prompt: str | list[str]

    @field_validator("prompt")
    @classmethod
    def _one_prompt(cls, prompt: str | list[str]) -> str | list[str]:
        if isinstance(prompt, list) and len(prompt) != 1:
            raise ValueError("give one prompt (a string, or a list of one string)")
        return prompt

    def text(self) -> str:
        return self.prompt if isinstance(self.prompt, str) else self.prompt[0]


def validation_message(exc: ValidationError) -> tuple[str, str | None]:
    """The first problem of a request as one sentence, and the field it is about."""
    err = exc.errors()[0]
    loc = [str(p) for p in err["loc"] if not str(p).startswith(("function-", "list[", "str"))]
    param = ".".join(loc) or None
    if err["type"] == "extra_forbidden":
        return f"unknown field {param!r}", param
    message = str(err["msg"]).removeprefix("Value error, ")
    return (f"{param}: {message}" if param else message), param


def parse_request(kind: type[_Request], data: Any) -> _Request:
    if not isinstance(data, dict):
        raise ApiError(400, "the request body must be a JSON object")
    try:
        request = kind.model_validate(data)
        request.text()  # a chat without a user message, a non-text part
    except ValidationError as exc:
        message, param = validation_message(exc)
        raise ApiError(400, message, param=param) from None
    except ValueError as exc:
        raise ApiError(400, str(exc)) from None
    return request


# -- responses --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Choice:
    text: str
    finish_reason: str  # "stop" or "length"
    score: float | None = None


@dataclass(frozen=True)
class Envelope:
    """What every response (and every chunk of a stream) of one request shares."""

    chat: bool
    model: str
    id: str
    created: int

    @classmethod
    def new(cls, chat: bool, model: str) -> Envelope:
        prefix = "chatcmpl-" if chat else "cmpl-"
        return cls(chat, model, prefix + uuid.uuid4().hex, int(time.time()))

    def _base(self, chunk: bool) -> dict[str, Any]:
        kind = "chat.completion" if self.chat else "text_completion"
        return {
            "id": self.id,
            "object": kind + (".chunk" if chunk and self.chat else ""),
            "created": self.created,
            "model": self.model,
        }

    def _choice(self, index: int, text: str | None, finish: str | None, chunk: bool) -> Any:
        if not self.chat:
            return {"index": index, "text": text or "", "logprobs": None, "finish_reason": finish}
        if chunk:
            delta = {} if text is None else {"content": text}
            return {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}
        return {"index": index, "message": {"role": "assistant", "content": text},
                "logprobs": None, "finish_reason": finish}

    def completion(self, choices: list[Choice], usage: dict[str, int],
                   extension: dict[str, Any]) -> dict[str, Any]:
        return {
            **self._base(chunk=False),
            "choices": [self._choice(i, c.text, c.finish_reason, False)
                        for i, c in enumerate(choices)],
            "usage": usage,
            "inkwell": extension,
        }

    def chunk(self, index: int, text: str | None, finish: str | None = None,
              extension: dict[str, Any] | None = None, role: bool = False) -> dict[str, Any]:
        choice = self._choice(index, text, finish, True)
        if role and self.chat:
            choice["delta"]["role"] = "assistant"
        body = {**self._base(chunk=True), "choices": [choice]}
        if extension is not None:
            body["inkwell"] = extension
        return body
