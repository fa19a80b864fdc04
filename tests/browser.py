"""A headless Chromium driven over the DevTools protocol, with the standard library only.

Chromium's ``--remote-debugging-pipe`` reads protocol messages (JSON, each ended by a NUL byte) from file
descriptor 3 and writes its answers and events to descriptor 4: no port, no websocket, no client package.
``Page`` opens one file, records what the checks need (console errors, exceptions, failed loads, every
network request) and answers questions through ``Runtime.evaluate``.

Run by hand to rebuild the screenshots: ``python tests/browser.py PAGE.html OUT.png [WIDTH HEIGHT]``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> str | None:
    """$LANGGAN_CHROMIUM, else the first Chromium on PATH (Debian's package is ``chromium``)."""
    named = os.environ.get("LANGGAN_CHROMIUM")
    if named:
        return named if shutil.which(named) else None
    return next((path for name in CANDIDATES if (path := shutil.which(name))), None)


class ProtocolError(RuntimeError):
    pass


class Browser:
    """One headless Chromium process and its protocol connection (use as a context manager)."""

    def __init__(self, executable: str, width: int = 1280, height: int = 900, timeout: float = 30.0) -> None:
        self.timeout = timeout
        self._profile = tempfile.mkdtemp(prefix="langgan-chromium-")
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()
        # the child's ends moved above 9, so that placing them at 3 and 4 cannot overwrite one with the other
        high_r, high_w = fcntl.fcntl(to_child_r, fcntl.F_DUPFD, 10), fcntl.fcntl(from_child_w, fcntl.F_DUPFD, 10)
        os.close(to_child_r)
        os.close(from_child_w)

        def place_pipes() -> None:  # in the child, before exec
            os.dup2(high_r, 3)
            os.dup2(high_w, 4)

        args = [
            executable,
            "--headless=new",
            "--remote-debugging-pipe",
            "--no-sandbox",  # containers and root: the sandbox needs namespaces they may not grant
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            f"--user-data-dir={self._profile}",
            f"--window-size={width},{height}",
            "about:blank",
        ]
        self.proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(3, 4),
            preexec_fn=place_pipes,  # before the reader thread starts: no other thread to deadlock with
        )
        os.close(high_r)
        os.close(high_w)
        self._next = 0
        self._answers: dict[int, dict[str, Any]] = {}
        self._events: queue.Queue[dict[str, Any]] = queue.Queue()
        self._lock = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        buf = b""
        while True:
            chunk = os.read(self._from_child, 1 << 16)
            if not chunk:
                with self._lock:
                    self._lock.notify_all()
                return
            buf += chunk
            *messages, buf = buf.split(b"\0")
            for raw in messages:
                msg = json.loads(raw)
                if "id" in msg:
                    with self._lock:
                        self._answers[msg["id"]] = msg
                        self._lock.notify_all()
                else:
                    self._events.put(msg)

    def call(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> dict[str, Any]:
        """Send one command and wait for its answer (its ``result``; an error answer raises)."""
        self._next += 1
        ident = self._next
        msg: dict[str, Any] = {"id": ident, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._to_child, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        with self._lock:
            while ident not in self._answers:
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    raise ProtocolError(f"no answer to {method} (browser exit code {self.proc.poll()})")
                self._lock.wait(left)
            answer = self._answers.pop(ident)
        if "error" in answer:
            raise ProtocolError(f"{method}: {answer['error']}")
        return answer.get("result", {})

    def events(self) -> Iterator[dict[str, Any]]:
        """Events received so far (each once)."""
        while True:
            try:
                yield self._events.get_nowait()
            except queue.Empty:
                return

    def wait_event(self, method: str, session: str, timeout: float | None = None) -> list[dict[str, Any]]:
        """Every event up to and including the first ``method`` of ``session``."""
        seen = []
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ProtocolError(f"no {method} within the timeout")
            try:
                event = self._events.get(timeout=left)
            except queue.Empty:
                continue
            seen.append(event)
            if event.get("method") == method and event.get("sessionId") == session:
                return seen

    def page(self) -> Page:
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        return Page(self, session)

    def close(self) -> None:
        with contextlib.suppress(ProtocolError, OSError):
            self.call("Browser.close")
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for fd in (self._to_child, self._from_child):
            with contextlib.suppress(OSError):
                os.close(fd)
        shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Page:
    """One tab: open a file, then ask it questions; ``problems`` and ``requests`` collect what happened."""

    def __init__(self, browser: Browser, session: str) -> None:
        self.browser, self.session = browser, session
        self.problems: list[str] = []  # console errors, uncaught exceptions, failed loads
        self.requests: list[str] = []  # the URL of every request the page made
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable")

    def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.browser.call(method, params, self.session)

    def _record(self, events: list[dict[str, Any]]) -> None:
        for e in events:
            if e.get("sessionId") != self.session:
                continue
            method, p = e.get("method"), e.get("params", {})
            if method == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                text = " ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", []))
                self.problems.append(f"console.{p['type']}: {text}")
            elif method == "Runtime.exceptionThrown":
                details = p.get("exceptionDetails", {})
                self.problems.append(f"exception: {details.get('exception', {}).get('description') or details}")
            elif method == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
                self.problems.append(f"log: {p['entry'].get('text')} {p['entry'].get('url', '')}".strip())
            elif method == "Network.requestWillBeSent":
                self.requests.append(p.get("request", {}).get("url", ""))
            elif method == "Network.loadingFailed":
                self.problems.append(f"failed load: {p.get('errorText')}")

    def open(self, url: str, scripts: bool = True) -> None:
        """Navigate and wait for the load event (every image loaded or failed), then a moment for late events."""
        self.call("Emulation.setScriptExecutionDisabled", {"value": not scripts})
        self.call("Page.navigate", {"url": url})
        self._record(self.browser.wait_event("Page.loadEventFired", self.session))
        self.evaluate("new Promise(r => requestAnimationFrame(() => setTimeout(r, 50)))") if scripts else None
        self.settle()

    def settle(self) -> None:
        time.sleep(0.1)
        self._record(list(self.browser.events()))

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (promises awaited); a thrown error raises."""
        answer = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in answer:
            raise ProtocolError(f"{expression[:60]}...: {answer['exceptionDetails']}")
        return answer.get("result", {}).get("value")

    def screenshot(self, path: Path, full: bool = False) -> None:
        """A PNG of what a reader sees first (the viewport), or of the whole page."""
        params: dict[str, Any] = {"format": "png"}
        if full:
            size = self.call("Page.getLayoutMetrics")["cssContentSize"]
            params.update(captureBeyondViewport=True, clip={**size, "x": 0, "y": 0, "scale": 1})
        import base64

        path.write_bytes(base64.b64decode(self.call("Page.captureScreenshot", params)["data"]))


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 4):
        print("usage: python tests/browser.py PAGE.html OUT.png [WIDTH HEIGHT]", file=sys.stderr)
        return 2
    exe = find_chromium()
    if exe is None:
        print("no Chromium found (Debian: apt-get install chromium)", file=sys.stderr)
        return 2
    width, height = (int(argv[2]), int(argv[3])) if len(argv) == 4 else (1280, 900)
    with Browser(exe, width, height) as browser:
        page = browser.page()
        page.open(Path(argv[0]).resolve().as_uri())
        page.screenshot(Path(argv[1]))
        for problem in page.problems:
            print(problem, file=sys.stderr)
    print(argv[1])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
