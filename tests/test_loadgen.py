"""The load generator refuses non-loopback targets and reports what it measured."""

from __future__ import annotations

import pytest

from benchmarks import loadgen


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.5:8080/v1/messages",  # private range: never a target
        "http://192.168.1.2/v1/messages",  # private range: never a target
        "http://example.com/v1/messages",  # public host name
    ],
)
def test_refuses_non_loopback_targets(url: str) -> None:
    """Only loopback addresses may be loaded."""
    with pytest.raises(ValueError, match="loopback"):
        loadgen.require_loopback(url)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:1/x", "http://127.9.9.9/x", "http://[::1]:80/x", "http://localhost/x"]
)
def test_accepts_loopback_targets(url: str) -> None:
    """127.0.0.0/8, ::1 and localhost are accepted."""
    loadgen.require_loopback(url)


async def test_connection_errors_count_as_errors_not_latency_wins() -> None:
    """Requests to a port nobody listens on are all counted as errors."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    res = await loadgen.run(
        f"http://127.0.0.1:{port}/v1/messages", 50, 0.2, lambda i: (b"{}", 1), {}, timeout_s=2
    )
    assert res.sent == 10 and res.errors == 10 and res.ok == 0
