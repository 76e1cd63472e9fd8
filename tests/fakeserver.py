"""A scripted OpenAI-compatible chat-completions server on 127.0.0.1, for tests and benchmarks.

Real HTTP (ThreadingHTTPServer, HTTP/1.1 keep-alive), so the real `openai` SDK talks to it. Each request
is answered by the next scripted action whose `match` text occurs in the prompt, else by `responder`
(default: a valid answer built from the request's schema). Every request is logged with its start and
end times, the prompt, the Authorization header and the outcome:

- `answered`: a response was written;
- `dropped`: the connection was closed without a response (scripted, or held then dropped);
- `hung`: scripted `hang`: no response until the client gave up, then the connection was closed;
- `aborted`: writing the response failed (the client had gone).

`hold()` makes new responses wait; `drop_held()` closes those connections unanswered; `release()` lets
them through. Run as a script (`python tests/fakeserver.py --latency 0.2`) it prints `PORT <n>` and
serves, with `GET /_admin/log` (the log without bodies), `GET /_admin/stats`, `POST /_admin/reset`.

The Batch API too: `POST /v1/files` (multipart upload), `GET /v1/files/{id}/content`, `POST /v1/batches`,
`GET /v1/batches/{id}`. A batch is `validating`, then `in_progress`, then `completed` once it has been
retrieved `batch_polls` times; its lines are then answered by the same scripted chat-completions logic
(an `ok` action is an output line, a `status` action an error-file line, a `raw` action an output line
written as is). `script_batch(status="expired", missing=(...))` makes the next batch end `expired` with
the lines whose prompt contains one of `missing` in neither file. Batch lines are logged in `batch_log`,
not in `log` (so `chat_requests()` counts online requests only).
"""

from __future__ import annotations

import argparse
import email.parser
import email.policy
import hashlib
import json
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Action:
    """One scripted response."""

    kind: str = "ok"  # ok | status | hang | drop | raw
    content: str | None = None  # ok: message content (None: build from the request)
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None  # status / raw: the body as sent
    finish_reason: str = "stop"
    refusal: str | None = None
    delay: float = 0.0  # before answering (hang: how long before giving up on the client)
    top_logprobs: list[tuple[str, float]] | None = None  # ok: first-token top log-probabilities
    tool_args: dict | None = None  # ok: answer as a tool call with these arguments


def ok(content: str | dict | None = None, **kw: Any) -> Action:
    if isinstance(content, dict):
        content = json.dumps(content)
    return Action("ok", content=content, **kw)


def status(code: int, body: str | dict | None = None, *, retry_after: float | None = None,
           retry_after_ms: float | None = None, **kw: Any) -> Action:  # fmt: skip
    headers = {}
    if retry_after is not None:
        headers["Retry-After"] = f"{retry_after:g}"
    if retry_after_ms is not None:
        headers["retry-after-ms"] = f"{retry_after_ms:g}"
    if body is None:
        body = {"error": {"message": f"scripted {code}", "type": "server_error", "code": None}}
    if isinstance(body, dict):
        body = json.dumps(body)
    return Action("status", status=code, headers=headers, body=body, **kw)


def hang(seconds: float = 5.0) -> Action:
    return Action("hang", delay=seconds)


def drop() -> Action:
    return Action("drop")


def raw(body: str, code: int = 200) -> Action:
    return Action("raw", status=code, body=body)


def yes_no(answer: str, p_yes: float | None = None) -> Action:
    """A yes/no answer; with `p_yes`, first-token log-probabilities for Yes / yes / No / no."""
    top = None
    if p_yes is not None:
        eps = 1e-9
        top = [("Yes", math.log(max(p_yes * 0.7, eps))), (" yes", math.log(max(p_yes * 0.3, eps))),
               ("No", math.log(max((1 - p_yes) * 0.8, eps))), ("no", math.log(max((1 - p_yes) * 0.2, eps))),
               ("The", math.log(1e-4))]  # fmt: skip
    return Action("ok", content=answer, top_logprobs=top)


def _schema_of(req: dict) -> dict | None:
    rf = req.get("response_format") or {}
    if rf.get("type") == "json_schema":
        return rf.get("json_schema", {}).get("schema")
    if rf.get("schema"):
        return rf["schema"]
    tools = req.get("tools") or []
    if tools:
        return tools[0].get("function", {}).get("parameters")
    return None


def default_answer(req: dict) -> dict:
    """A valid decision under the request's schema: the first label, no areas."""
    schema = _schema_of(req) or {}
    props = schema.get("properties", {})
    labels = props.get("label", {}).get("enum") or ["allow"]
    return {"label": labels[0], "areas": [], "confidence": 0.9, "rationale": "fake server default"}


def prompt_of(req: dict) -> str:
    return "\n".join(str(m.get("content", "")) for m in req.get("messages", []))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # The default backlog of 5 drops a burst of concurrent connects; the dropped SYNs are retried by the
    # kernel after 1 s, which would show up as client latency that is not the client's.
    request_queue_size = 256


class FakeServer:
    def __init__(self, port: int = 0, latency: float = 0.0):
        self.latency = latency
        self.log: list[dict[str, Any]] = []
        self.scripts: list[tuple[tuple[str, ...], list[Action]]] = []
        self.responder: Callable[[dict], Action] = lambda req: ok(default_answer(req))
        self._lock = threading.Lock()
        self._gate = threading.Event()
        self._gate.set()
        self._held: list[dict[str, Any]] = []  # entries waiting at the closed gate
        self._dropping: set[int] = set()
        self.httpd = _Server(("127.0.0.1", port), self._handler_class())
        self.port = self.httpd.server_address[1]
        self._thread: threading.Thread | None = None
        # Batch API state
        self.files: dict[str, dict[str, Any]] = {}  # id -> {"content": bytes, "purpose", "filename"}
        self.batches: dict[str, dict[str, Any]] = {}  # id -> the batch object (+ "_polls", "_outcome")
        self.batch_log: list[dict[str, Any]] = []  # one entry per processed batch line
        self.batch_polls = 2  # retrievals before a batch completes
        self._batch_outcomes: list[dict[str, Any]] = []

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    # ---- scripting -----------------------------------------------------------------------------
    def script(self, match: str | tuple[str, ...], *actions: Action) -> None:
        """The next requests whose prompt contains `match` (every string of it, for a tuple) get these
        actions, in order."""
        with self._lock:
            self.scripts.append((match if isinstance(match, tuple) else (match,), list(actions)))

    def _next_action(self, req: dict) -> Action:
        prompt = prompt_of(req)
        with self._lock:
            for match, actions in self.scripts:
                if actions and all(m in prompt for m in match):
                    return actions.pop(0)
        return self.responder(req)

    def script_batch(self, status: str = "completed", missing: tuple[str, ...] = (),
                     fail_message: str | None = None) -> None:  # fmt: skip
        """The next created batch ends with `status` (`completed`, `expired`, `failed`, `cancelled`);
        lines whose prompt contains one of `missing` are left out of the output and error files."""
        with self._lock:
            self._batch_outcomes.append(
                {"status": status, "missing": tuple(missing), "message": fail_message}
            )

    def batch_creates(self) -> list[dict[str, Any]]:
        """The `POST /v1/batches` requests received."""
        with self._lock:
            return [e for e in self.log if e["path"].rstrip("/").endswith("/batches")]

    # ---- the Batch API -------------------------------------------------------------------------
    def _new_file(self, content: bytes, purpose: str, filename: str) -> dict[str, Any]:
        with self._lock:
            fid = f"file-fake{len(self.files) + 1:04d}"
            self.files[fid] = {"content": content, "purpose": purpose, "filename": filename}
        return {"id": fid, "object": "file", "bytes": len(content), "created_at": int(time.time()),
                "filename": filename, "purpose": purpose, "status": "processed"}  # fmt: skip

    def _create_batch(self, req: dict) -> tuple[int, dict]:
        fid = req.get("input_file_id")
        if fid not in self.files:
            return 404, {"error": {"message": f"no such file {fid!r}", "type": "invalid_request_error"}}
        if req.get("endpoint") != "/v1/chat/completions" or req.get("completion_window") != "24h":
            return 400, {
                "error": {"message": "unsupported endpoint or window", "type": "invalid_request_error"}
            }
        with self._lock:
            bid = f"batch_fake{len(self.batches) + 1:04d}"
            outcome = (
                self._batch_outcomes.pop(0)
                if self._batch_outcomes
                else {"status": "completed", "missing": (), "message": None}
            )
            n = len([ln for ln in self.files[fid]["content"].splitlines() if ln.strip()])
            self.batches[bid] = {
                "id": bid, "object": "batch", "endpoint": req["endpoint"], "errors": None,
                "input_file_id": fid, "completion_window": "24h", "status": "validating",
                "output_file_id": None, "error_file_id": None, "created_at": int(time.time()),
                "in_progress_at": None, "expires_at": int(time.time()) + 86400, "completed_at": None,
                "failed_at": None, "expired_at": None, "cancelled_at": None,
                "request_counts": {"total": n, "completed": 0, "failed": 0},
                "metadata": req.get("metadata"), "_polls": 0, "_outcome": outcome,
            }  # fmt: skip
            return 200, self._public_batch(self.batches[bid])

    @staticmethod
    def _public_batch(b: dict) -> dict:
        return {k: v for k, v in b.items() if not k.startswith("_")}

    def _retrieve_batch(self, bid: str) -> tuple[int, dict]:
        with self._lock:
            b = self.batches.get(bid)
            if b is None:
                return 404, {"error": {"message": f"no such batch {bid!r}", "type": "invalid_request_error"}}
            if b["status"] in ("validating", "in_progress"):
                b["_polls"] += 1
                if b["_polls"] >= self.batch_polls:
                    finish = True
                else:
                    b["status"] = "validating" if b["_polls"] == 0 else "in_progress"
                    b["in_progress_at"] = b["in_progress_at"] or int(time.time())
                    finish = False
            else:
                finish = False
        if finish:
            self._finish_batch(b)
        with self._lock:
            return 200, self._public_batch(b)

    def _finish_batch(self, b: dict) -> None:
        outcome = b["_outcome"]
        if outcome["status"] == "failed":
            with self._lock:
                b.update(
                    status="failed",
                    failed_at=int(time.time()),
                    errors={
                        "object": "list",
                        "data": [
                            {
                                "code": "invalid_file",
                                "message": outcome["message"] or "scripted failure",
                                "line": None,
                            }
                        ],
                    },
                )
            return
        out_lines: list[str] = []
        err_lines: list[str] = []
        for raw_line in self.files[b["input_file_id"]]["content"].decode("utf-8").splitlines():
            if not raw_line.strip():
                continue
            line = json.loads(raw_line)
            body = line.get("body") or {}
            prompt = prompt_of(body)
            entry = {"batch_id": b["id"], "custom_id": line.get("custom_id"), "prompt": prompt, "body": body}
            if any(m in prompt for m in outcome["missing"]):
                entry["outcome"] = "missing"
            else:
                action = self._next_action(body)
                entry["action"] = action.kind
                rid = f"req_{len(self.batch_log):06d}"
                if action.kind == "status":
                    try:
                        err_body: Any = json.loads(action.body or "{}")
                    except json.JSONDecodeError:
                        err_body = action.body
                    err_lines.append(json.dumps({"id": f"batch_req_{rid}", "custom_id": line.get("custom_id"),
                        "response": {"status_code": action.status, "request_id": rid, "body": err_body},
                        "error": None}))  # fmt: skip
                    entry["outcome"] = "error"
                elif action.kind == "raw":
                    out_lines.append(action.body or "")
                    entry["outcome"] = "raw"
                else:
                    out_lines.append(json.dumps({"id": f"batch_req_{rid}", "custom_id": line.get("custom_id"),
                        "response": {"status_code": 200, "request_id": rid, "body": self._completion(body, action)},
                        "error": None}))  # fmt: skip
                    entry["outcome"] = "answered"
            with self._lock:
                self.batch_log.append(entry)
        out_id = (
            self._new_file(("\n".join(out_lines) + "\n").encode(), "batch_output", "out.jsonl")["id"]
            if out_lines
            else None
        )
        err_id = (
            self._new_file(("\n".join(err_lines) + "\n").encode(), "batch_output", "err.jsonl")["id"]
            if err_lines
            else None
        )
        now = int(time.time())
        status = outcome["status"]
        with self._lock:
            b.update(status=status, output_file_id=out_id, error_file_id=err_id,
                     request_counts={"total": b["request_counts"]["total"], "completed": len(out_lines),
                                     "failed": len(err_lines)})  # fmt: skip
            b[
                {"completed": "completed_at", "expired": "expired_at", "cancelled": "cancelled_at"}.get(
                    status, "completed_at"
                )
            ] = now

    def _batch_api(self, method: str, path: str, headers: Any, data: bytes) -> tuple[int, dict | bytes]:
        """(status, JSON object or raw bytes) for a Batch API request."""
        p = path.split("?")[0].rstrip("/")
        if method == "POST" and p.endswith("/files"):
            msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
                b"Content-Type: " + headers.get("Content-Type", "").encode() + b"\r\n\r\n" + data
            )
            fields: dict[str, Any] = {}
            filename = "upload.jsonl"
            for part in msg.iter_parts():
                name = part.get_param("name", header="content-disposition")
                if part.get_filename():
                    filename = part.get_filename()
                fields[name] = part.get_payload(decode=True)
            if "file" not in fields:
                return 400, {"error": {"message": "no file part", "type": "invalid_request_error"}}
            purpose = (fields.get("purpose") or b"").decode()
            return 200, self._new_file(fields["file"], purpose, filename)
        if method == "GET" and p.endswith("/content") and "/files/" in p:
            fid = p.split("/files/")[1].split("/")[0]
            f = self.files.get(fid)
            return (200, f["content"]) if f else (404, {"error": {"message": f"no such file {fid!r}"}})
        if method == "POST" and p.endswith("/batches"):
            try:
                req = json.loads(data or b"{}")
            except json.JSONDecodeError:
                return 400, {"error": {"message": "body is not JSON"}}
            return self._create_batch(req)
        if method == "GET" and "/batches/" in p:
            return self._retrieve_batch(p.split("/batches/")[1].split("/")[0])
        return 404, {"error": {"message": "not found"}}

    def hold(self) -> None:
        """Responses not yet written wait (requests keep arriving and are logged)."""
        self._gate.clear()

    def release(self) -> None:
        """Let held responses through."""
        self._gate.set()

    def drop_held(self) -> None:
        """Close the connections of held requests without answering; later requests are served."""
        with self._lock:
            self._dropping = {e["n"] for e in self._held}
            self._held.clear()
            self._gate.set()

    def reset(self) -> None:
        with self._lock:
            self.log.clear()
            self.scripts.clear()

    # ---- the log -------------------------------------------------------------------------------
    def chat_requests(self) -> list[dict[str, Any]]:
        with self._lock:
            return [e for e in self.log if e["path"].endswith("/chat/completions")]

    def settle(self, timeout: float = 10.0) -> None:
        """Wait until every logged request has an outcome (a hung one finishes after the client gave up)."""
        deadline = time.monotonic() + timeout
        while any(e["outcome"] is None for e in self.chat_requests()) and time.monotonic() < deadline:
            time.sleep(0.02)

    def answered(self) -> list[dict[str, Any]]:
        return [e for e in self.chat_requests() if e["outcome"] == "answered"]

    # ---- life cycle ----------------------------------------------------------------------------
    def start(self) -> FakeServer:
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.release()
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- HTTP ----------------------------------------------------------------------------------
    def _completion(self, req: dict, action: Action) -> dict:
        prompt = prompt_of(req)
        tool_args = action.tool_args
        content = action.content
        if content is None and tool_args is None:
            if req.get("tools"):
                tool_args = default_answer(req)
            else:
                content = json.dumps(default_answer(req))
        message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": action.refusal}
        if tool_args is not None:
            message["content"] = None
            message["tool_calls"] = [{"id": "call_1", "type": "function", "function": {
                "name": (req.get("tools") or [{}])[0].get("function", {}).get("name", "answer"),
                "arguments": json.dumps(tool_args)}}]  # fmt: skip
        choice: dict[str, Any] = {"index": 0, "message": message, "finish_reason": action.finish_reason,
                                  "logprobs": None}  # fmt: skip
        if req.get("logprobs") and action.top_logprobs:
            first = action.top_logprobs[0]
            choice["logprobs"] = {"content": [{"token": first[0], "logprob": first[1], "bytes": None, "top_logprobs": [
                {"token": t, "logprob": lp, "bytes": None} for t, lp in action.top_logprobs]}]}  # fmt: skip
        out_text = content or json.dumps(tool_args or {})
        return {
            "id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()),
            "model": req.get("model", "fake"), "choices": [choice],
            "usage": {"prompt_tokens": max(1, len(prompt) // 4), "completion_tokens": max(1, len(out_text) // 4),
                      "total_tokens": max(1, len(prompt) // 4) + max(1, len(out_text) // 4)},
        }  # fmt: skip

    def _handler_class(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes: with Nagle's algorithm the body would wait for the
            # client's delayed ACK (up to 40 ms per response).
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _send(self, code: int, body: str, headers: dict[str, str] | None = None) -> None:
                data = body.encode("utf-8")
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)
                self.wfile.flush()

            def _batch(self, method: str, data: bytes) -> None:
                code, out = server._batch_api(method, self.path, self.headers, data)
                if isinstance(out, bytes):
                    self.send_response(code)
                    self.send_header("Content-Type", "application/octet-stream")
                    self.send_header("Content-Length", str(len(out)))
                    self.end_headers()
                    self.wfile.write(out)
                    self.wfile.flush()
                else:
                    self._send(code, json.dumps(out))

            def do_GET(self) -> None:
                if "/files" in self.path or "/batches" in self.path:
                    self._batch("GET", b"")
                elif self.path.endswith("/models"):
                    self._send(
                        200, json.dumps({"object": "list", "data": [{"id": "fake", "object": "model"}]})
                    )
                elif self.path == "/_admin/log":
                    with server._lock:
                        rows = [{k: v for k, v in e.items() if k != "body"} for e in server.log]
                    self._send(200, json.dumps(rows))
                elif self.path == "/_admin/stats":
                    reqs = server.chat_requests()
                    self._send(
                        200,
                        json.dumps(
                            {"requests": len(reqs), "answered": sum(e["outcome"] == "answered" for e in reqs)}
                        ),
                    )
                else:
                    self._send(404, json.dumps({"error": {"message": "not found"}}))

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                data = self.rfile.read(length) if length else b""
                if self.path == "/_admin/reset":
                    server.reset()
                    self._send(200, "{}")
                    return
                if "/files" in self.path or "/batches" in self.path:
                    body: Any = {}
                    if "/batches" in self.path:
                        try:
                            body = json.loads(data or b"{}")
                        except json.JSONDecodeError:
                            body = {}
                    with server._lock:
                        server.log.append({"n": len(server.log), "t_start": time.time(), "t_end": time.time(),
                                           "path": self.path, "body": body, "prompt": "", "prompt_key": None,
                                           "auth": self.headers.get("Authorization"), "status": None,
                                           "outcome": "answered"})  # fmt: skip
                    self._batch("POST", data)
                    return
                t_start = time.time()
                try:
                    req = json.loads(data or b"{}")
                except json.JSONDecodeError:
                    req = {}
                entry: dict[str, Any] = {
                    "t_start": t_start, "t_end": None, "path": self.path, "body": req,
                    "prompt": prompt_of(req),
                    "prompt_key": hashlib.sha256(json.dumps(req.get("messages"), sort_keys=True).encode()).hexdigest(),
                    "auth": self.headers.get("Authorization"), "status": None, "outcome": None,
                }  # fmt: skip
                with server._lock:
                    entry["n"] = len(server.log)
                    server.log.append(entry)
                if not self.path.endswith("/chat/completions"):
                    entry.update(status=404, outcome="answered", t_end=time.time())
                    self._send(404, json.dumps({"error": {"message": "not found"}}))
                    return
                action = server._next_action(req)
                entry["action"] = action.kind
                try:
                    if server.latency:
                        time.sleep(server.latency)
                    if action.kind != "hang" and action.delay:
                        time.sleep(action.delay)
                    with server._lock:  # atomic with drop_held(): held and dropped, or not held at all
                        waiting = not server._gate.is_set()
                        if waiting:
                            server._held.append(entry)
                    if waiting:
                        server._gate.wait()
                    if entry["n"] in server._dropping or action.kind == "drop":
                        entry.update(outcome="dropped", t_end=time.time())
                        self.close_connection = True
                        self.connection.close()
                        return
                    if action.kind == "hang":  # outlive the client's timeout, then hang up without a word
                        time.sleep(action.delay)
                        entry.update(outcome="hung", t_end=time.time())
                        self.close_connection = True
                        self.connection.close()
                        return
                    if action.kind in ("status", "raw"):
                        entry["status"] = action.status
                        self._send(action.status, action.body or "", action.headers)
                    else:
                        entry["status"] = 200
                        self._send(200, json.dumps(server._completion(req, action)))
                    entry.update(outcome="answered", t_end=time.time())
                except (BrokenPipeError, ConnectionResetError, OSError):
                    entry.update(outcome="aborted", t_end=time.time())
                    self.close_connection = True

        return Handler


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--latency", type=float, default=0.0)
    args = ap.parse_args()
    server = FakeServer(args.port, latency=args.latency)
    print(f"PORT {server.port}", flush=True)
    try:
        server.httpd.serve_forever(poll_interval=0.05)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
