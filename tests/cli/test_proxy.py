"""One proxy policy for the library and every command (`_transport.proxy`), checked against
loopback "proxy" that records what it receives and answers 502."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

import flowinvoke
from flowinvoke._transport.proxy import proxy_url_for
from flowinvoke.cli import cli
from flowinvoke.testing import DEMO_KEYS, LoopbackServer, demo_emulator

from ..policies import SHORT_JITTERED_RETRY
from .conftest import SECRET

pytest.importorskip("uvicorn")


class RecordingProxy:
    """A TCP server on loopback that keeps every byte it is sent and answers 502."""

    def __init__(self) -> None:
        self.received = bytearray()
        self._socket = socket.create_server(("127.0.0.1", 0))
        self._socket.settimeout(0.1)
        self.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._socket.accept()
            except OSError:
                continue
            with connection:
                connection.settimeout(2)
                try:
                    self.received += connection.recv(65536)
                    connection.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
                except OSError:
                    pass

    def __enter__(self) -> RecordingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self._socket.close()


@pytest.fixture
def proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[RecordingProxy]:
    """The recording proxy, named in every proxy variable of the environment."""
    with RecordingProxy() as recording:
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
            monkeypatch.setenv(name, recording.url)
        for name in ("NO_PROXY", "no_proxy"):
            monkeypatch.delenv(name, raising=False)
        yield recording


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer(demo_emulator(run_seconds=0.2)) as served:
        yield served


def test_commands_never_send_a_loopback_request_through_a_proxy(
    proxy: RecordingProxy, server: LoopbackServer, tmp_path: Path
) -> None:
    key = DEMO_KEYS["demo-quick"]
    common = ["--base-url", server.base_url, "--api-key", key]
    runner = CliRunner()
    started = runner.invoke(cli, ["run", *common, "-i", "text=hi", "--json"])
    assert started.exit_code == 0, started.output
    run_id = json.loads(started.stdout)["id"]
    for args in (["wait", run_id], ["get", run_id]):
        result = runner.invoke(cli, [*args, *common])
        assert result.exit_code == 0, result.output
    waited = runner.invoke(cli, ["wait", run_id, *common])
    assert "SUCCEEDED" in waited.stderr
    assert "1 poll)" in waited.stderr  # the library's hooks count the command's requests
    inputs = tmp_path / "in.jsonl"
    inputs.write_text('{"text": "a"}\n', "utf-8")
    out = tmp_path / "out.jsonl"
    result = runner.invoke(cli, ["batch", *common, str(inputs), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert bytes(proxy.received) == b"", "a request went to the proxy"
    assert key.encode() not in proxy.received


def test_https_goes_through_the_proxy_as_a_tunnel_the_key_never_crosses(
    proxy: RecordingProxy,
) -> None:
    client = flowinvoke.Client(
        base_url="https://api.flowinvoke.test", api_key=SECRET, retry=SHORT_JITTERED_RETRY
    )
    with client, pytest.raises(flowinvoke.APIConnectionError):
        client.get_run("run-1")
    assert proxy.received.startswith(b"CONNECT api.flowinvoke.test:443 ")
    assert SECRET.encode() not in proxy.received


@pytest.mark.parametrize(
    ("url", "env", "expected"),
    [
        ("https://api.gptbots.ai", {"HTTPS_PROXY": "http://p:1"}, "http://p:1"),
        (
            "https://api.gptbots.ai",
            {"https_proxy": "http://a:1", "HTTPS_PROXY": "http://b:1"},
            "http://a:1",
        ),
        ("https://api.gptbots.ai", {"ALL_PROXY": "socks5://p:1"}, "socks5://p:1"),
        ("https://api.gptbots.ai", {"HTTP_PROXY": "http://p:1"}, None),
        ("http://10.1.2.3:8080", {"HTTP_PROXY": "http://p:1", "ALL_PROXY": "http://p:1"}, None),
        ("https://localhost:8443", {"HTTPS_PROXY": "http://p:1"}, None),
        ("https://127.0.0.1:8443", {"HTTPS_PROXY": "http://p:1"}, None),
        ("https://[::1]:8443", {"HTTPS_PROXY": "http://p:1"}, None),
        ("https://api.gptbots.ai", {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "gptbots.ai"}, None),
        ("https://api.gptbots.ai", {"HTTPS_PROXY": "http://p:1", "NO_PROXY": ".gptbots.ai"}, None),
        ("https://api.gptbots.ai", {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "*"}, None),
        (
            "https://notgptbots.ai",
            {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "gptbots.ai"},
            "http://p:1",
        ),
        ("https://api.gptbots.ai", {}, None),
    ],
)
def test_the_policy(url: str, env: dict[str, str], expected: str | None) -> None:
    assert proxy_url_for(url, env) == expected
