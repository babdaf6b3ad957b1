"""The transports flowinvoke builds share one TLS context per process, and it still verifies.

httpx loads the whole CA bundle into a new context for every transport (25 to 40 ms of CPU);
`_transport/tls.py` builds it once. What must not change with it: an https server whose
certificate no trusted authority signed is refused (a typed connection error, nothing
sent), `SSL_CERT_FILE` is honoured as httpx honours it, on every flavour of client.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flowinvoke import APIConnectionError, AsyncClient, Client

from .hostile_server import Connection, HostileServer
from .hostile_support import KEY, NO_RETRY, SUCCEEDED, perform

trustme = pytest.importorskip("trustme")

FLAVOURS = ["asyncio", "trio", "sync", "fast"]


def _answer_every_query(connection: Connection) -> None:
    while connection.read_request() is not None:
        connection.answer(SUCCEEDED)


@pytest.fixture(scope="module")
def authority() -> Any:
    return trustme.CA()


@pytest.fixture
def server(authority: Any) -> Iterator[HostileServer]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("localhost").configure_cert(context)
    with HostileServer(_answer_every_query, tls=context) as serving:
        yield serving


@pytest.fixture
def trusted(authority: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Trust the test's authority the way httpx lets a deployment do it."""
    bundle = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))


def _options(server: HostileServer) -> dict[str, Any]:
    return {"provider": "gptbots", "base_url": server.base_url, "retry": NO_RETRY}


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_a_certificate_no_trusted_authority_signed_is_refused(
    server: HostileServer, flavour: str
) -> None:
    with pytest.raises(APIConnectionError) as caught:
        perform(flavour, _options(server), "get_run", "run-42")
    assert KEY not in str(caught.value)
    assert server.requests_to("/v1/workflow/query") == []


@pytest.mark.usefixtures("trusted")
@pytest.mark.parametrize("flavour", FLAVOURS)
def test_ssl_cert_file_is_honoured(server: HostileServer, flavour: str) -> None:
    run = perform(flavour, _options(server), "get_run", "run-42")
    assert run.output == {"answer": 42}
    assert len(server.requests_to("/v1/workflow/query")) == 1


def _context_of(client: Any) -> object:
    from flowinvoke._transport.build import per_process_inner

    inner = per_process_inner(client._http._transport)
    wrapped = getattr(inner, "_inner", None)  # the fast transport wraps httpx-aiohttp's
    if wrapped is not None:
        return wrapped.ssl_context
    return inner._pool._ssl_context


def test_clients_share_one_context_until_the_environment_changes(
    authority: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    options = {"provider": "gptbots", "api_key": KEY}
    first = _context_of(AsyncClient(**options))
    assert _context_of(AsyncClient(**options)) is first
    assert _context_of(Client(**options)) is first
    assert _context_of(AsyncClient(**options, fast_transport=True)) is first
    bundle = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    assert _context_of(AsyncClient(**options)) is not first
    monkeypatch.delenv("SSL_CERT_FILE")
    assert _context_of(AsyncClient(**options)) is first
