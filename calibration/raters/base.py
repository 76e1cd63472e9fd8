"""The one interface every automated rater implements, and the rater configuration file.

`Rater.rate(items, policy) -> list[Judgement]`: an LLM behind an OpenAI-compatible endpoint, any LangChain
chat model, or the scikit-learn baseline. Their judgements have the same shape as human ones, so
agreement and grading treat them alike.

A rater config is a small YAML file (see `raters/*.yaml`):

    kind: openai            # openai | langchain | baseline
    id: gpt-4o-mini-json    # the rater id in the store
    model: gpt-4o-mini
    base_url: https://api.openai.com/v1
    template: classify_json.j2
    api_key_env: OPENAI_API_KEY
    prices: {input_per_mtok: 0.15, output_per_mtok: 0.60}
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from calibration.errors import InputError, Issue
from calibration.models import Item, Judgement, Policy, RaterKind

RaterType = Literal["openai", "langchain", "baseline"]
PromptMode = Literal["json", "yes_no"]
# How the JSON answer is requested from an OpenAI-compatible endpoint:
# - auto (default): json_schema; if the endpoint rejects it, json_object_with_schema for the rest of the run
# - json_schema: `{"type": "json_schema", "json_schema": {...}}` (OpenAI, Azure OpenAI, vLLM, Ollama)
# - json_object_with_schema: `{"type": "json_object", "schema": {...}}` (llama-cpp-python's server, which
#   rejects json_schema but constrains the output with a grammar built from the schema)
# - json_object: plain JSON mode; none: no response_format (the prompt alone asks for JSON)
ResponseFormat = Literal["auto", "json_schema", "json_object_with_schema", "json_object", "none"]

# A key for servers that ignore it (llama.cpp, vLLM, Ollama). Not a secret.
LOCAL_DUMMY_KEY = "sk-local-no-key"


class Prices(BaseModel):
    """Price per million tokens, in the currency of your bill (USD for OpenAI)."""

    model_config = ConfigDict(extra="forbid")

    input_per_mtok: float = Field(0.0, ge=0)
    output_per_mtok: float = Field(0.0, ge=0)

    def cost(self, tokens_in: int | None, tokens_out: int | None) -> float:
        return ((tokens_in or 0) * self.input_per_mtok + (tokens_out or 0) * self.output_per_mtok) / 1e6


class LangChainSettings(BaseModel):
    """How to build the LangChain chat model: `class_path` ("module:Class") called with `init` plus the
    common fields (`model`, `base_url`, `temperature`, `max_tokens`, `timeout`, api key) that are set."""

    model_config = ConfigDict(extra="forbid")

    class_path: str | None = None
    init: dict[str, Any] = Field(default_factory=dict)
    # Keyword names the class uses for the common fields (ChatOpenAI: model, base_url, api_key, ...).
    param_names: dict[str, str] = Field(default_factory=dict)


class BaselineSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    folds: int = Field(5, ge=2)
    # An area gets its own one-vs-rest classifier only with at least this many positives (and as many
    # negatives); never fewer than the number of folds.
    min_area_positives: int = Field(5, ge=2)
    C: float = Field(4.0, gt=0)
    word_ngrams: tuple[int, int] = (1, 2)
    char_ngrams: tuple[int, int] = (2, 5)
    hash_features: int = Field(2**18, ge=1024)  # hashed n-gram columns per analyser (word, char)


class RaterConfig(BaseModel):
    """A rater: what to call, with which prompt, how fast, at what price. Secrets are never stored here:
    `api_key_env` names the environment variable that holds the key."""

    model_config = ConfigDict(extra="forbid")

    kind: RaterType
    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:/\-]*$")
    model: str | None = None
    base_url: str | None = None
    template: str = "classify_json.j2"
    mode: PromptMode | None = None
    response_format: ResponseFormat = "auto"
    temperature: float | None = Field(0.0, ge=0, le=2)
    seed: int | None = None
    max_tokens: int = Field(300, ge=1)
    concurrency: int = Field(8, ge=1, le=1024)
    rpm: float | None = Field(None, gt=0)
    tpm: float | None = Field(None, gt=0)
    timeout: float = Field(60.0, gt=0)
    max_retries: int = Field(5, ge=0, le=20)
    backoff_base: float = Field(1.0, ge=0)
    backoff_max: float = Field(60.0, ge=0)
    prices: Prices | None = None
    # Batch API (`calibrate classify --batch`): the fraction taken off `prices` for batch calls
    # (OpenAI charges half: 0.5). Not part of the cache key.
    batch_discount: float = Field(0.5, ge=0, le=1)
    api_key_env: str | None = None
    # yes_no mode: ask for log-probabilities; the label given when an area is violated (default: the
    # most severe label), optionally per area; the P(yes) above which an area counts as violated.
    logprobs: bool = True
    violation_label: str | None = None
    area_labels: dict[str, str] = Field(default_factory=dict)
    threshold: float = Field(0.5, gt=0, lt=1)
    # Goes into the cache key: set it to keep two endpoints serving the same model name apart.
    cache_namespace: str | None = None
    # Judgements are written to the store in batches of this size (calls are logged one by one).
    write_batch: int = Field(50, ge=1)
    extra_body: dict[str, Any] = Field(default_factory=dict)
    langchain: LangChainSettings = Field(default_factory=LangChainSettings)
    baseline: BaselineSettings = Field(default_factory=BaselineSettings)

    @model_validator(mode="after")
    def _needs(self) -> RaterConfig:
        if self.kind == "openai" and not self.model:
            raise ValueError("model: an openai rater needs a model name")
        if self.kind == "openai" and not self.base_url:
            raise ValueError("base_url: an openai rater needs a base_url (e.g. https://api.openai.com/v1)")
        if self.kind == "langchain" and not self.langchain.class_path and not self.model:
            raise ValueError("langchain.class_path: a langchain rater needs class_path (module:Class)")
        return self

    @property
    def rater_kind(self) -> RaterKind:
        return "model" if self.kind == "baseline" else "llm"

    def api_key(self, source: str | Path | None = None) -> str:
        """The key from the environment (never from the file); a dummy one when no variable is named."""
        if not self.api_key_env:
            return LOCAL_DUMMY_KEY
        value = os.environ.get(self.api_key_env)
        if not value:
            raise InputError.at(
                source or f"rater {self.id}", 0, "api_key_env",
                f"environment variable {self.api_key_env} is not set (the API key is read from it)",
            )  # fmt: skip
        return value

    def store_config(self) -> dict[str, Any]:
        """What the store keeps about this rater: the settings, never a key (there is none in here)."""
        return self.model_dump(mode="json")


def _key_line(path: Path, text: str, loc: tuple[Any, ...]) -> int:
    """The 1-based line of the YAML key at `loc`, or 0 when it is not in the file."""
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return 0
    line = 0
    for part in loc:
        if not isinstance(node, yaml.MappingNode):
            break
        for key, value in node.value:
            if key.value == part:
                line = key.start_mark.line + 1
                node = value
                break
        else:
            break
    return line


def load_rater_config(path: str | Path) -> RaterConfig:
    """Read and validate a rater YAML file. Errors name the file, the line and the field."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise InputError.at(path, 0, None, f"cannot read rater config: {e.strerror or e}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise InputError.at(path, mark.line + 1 if mark else 0, None, f"not valid YAML: {problem}") from None
    if not isinstance(data, dict):
        raise InputError.at(path, 0, None, "expected a mapping of settings (kind, id, model, ...)")
    try:
        config = RaterConfig.model_validate(data)
    except ValidationError as e:
        issues = []
        for err in e.errors():
            loc = tuple(err["loc"])
            msg = err["msg"]
            field = ".".join(str(p) for p in loc) or None
            if not loc and ":" in msg:  # a model-level check that names its field ("model: ...")
                field, msg = msg.removeprefix("Value error, ").split(": ", 1)
            if err["type"] == "extra_forbidden":
                msg = "unknown setting"
            issues.append(Issue(str(path), _key_line(path, text, loc or (field,)), field, msg))
        raise InputError(issues) from None
    if config.kind != "baseline":  # a template that does not exist is a mistake in this file
        from calibration.raters.prompts import resolve_template

        try:
            resolve_template(config.template)
        except InputError as e:
            raise InputError.at(
                path, _key_line(path, text, ("template",)), "template", e.issues[0].message
            ) from None
    return config


class Rater(ABC):
    """Anything that judges items under a policy."""

    config: RaterConfig

    @property
    def id(self) -> str:
        return self.config.id

    @property
    def rater_kind(self) -> RaterKind:
        return self.config.rater_kind

    @abstractmethod
    def rate(self, items: Sequence[Item], policy: Policy) -> list[Judgement]:
        """One judgement per item, in the order given. A failure is a judgement with status `error`."""


def run_sync(coro: Any) -> Any:
    """Run a coroutine from synchronous code, also inside a running event loop (a notebook)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def make_rater(config: RaterConfig, **kwargs: Any) -> Rater:
    """The rater a config describes."""
    if config.kind == "openai":
        from calibration.raters.openai_rater import OpenAIRater

        return OpenAIRater(config, **kwargs)
    if config.kind == "langchain":
        from calibration.raters.langchain_rater import LangChainRater

        return LangChainRater(config, **kwargs)
    from calibration.raters.baseline import BaselineRater

    return BaselineRater(config, **kwargs)
