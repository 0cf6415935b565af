"""Which URLs may be fetched, and how they appear in logs and errors."""

from __future__ import annotations

import pytest

from bot.images.errors import HostNotAllowed
from bot.images.urls import check_url, is_allowed_host, redact_url

KIE_HOSTS = ("aiquickdraw.com", "redpandaai.co")


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("aiquickdraw.com", True),
        ("tempfile.aiquickdraw.com", True),
        ("a.b.aiquickdraw.com", True),
        ("FILE.AiQuickDraw.COM", True),
        ("file.aiquickdraw.com.", True),
        ("kieai.redpandaai.co", True),
        ("evilaiquickdraw.com", False),
        ("aiquickdraw.com.evil.com", False),
        ("aiquickdraw.co", False),
        ("com", False),
        ("", False),
        ("127.0.0.1", False),
    ],
)
def test_is_allowed_host(host: str, allowed: bool) -> None:
    """A host passes if it is an allowed host or a subdomain of one, ignoring case."""
    assert is_allowed_host(host, KIE_HOSTS) is allowed


@pytest.mark.parametrize(
    ("host", "allowed"),
    [("127.0.0.1", True), ("x.127.0.0.1", False), ("127.0.0.2", False), ("::1", False)],
)
def test_ip_hosts_match_exactly(host: str, allowed: bool) -> None:
    """An allowed IP address matches only itself: IP addresses have no subdomains."""
    assert is_allowed_host(host, ("127.0.0.1",)) is allowed


def test_blank_allowed_entries_allow_nothing() -> None:
    """An empty entry (say from a trailing comma) must not allow every host."""
    assert not is_allowed_host("evil.com", ("", " ", "."))


@pytest.mark.parametrize(
    "url",
    [
        "https://tempfile.aiquickdraw.com/p/1_1.jpg?token=abc",
        "http://127.0.0.1:8123/img.jpg",
        "https://aiquickdraw.com./x.png",
    ],
)
def test_check_url_accepts(url: str) -> None:
    """Plain http(s) URLs on allowed hosts, any port, are accepted."""
    assert check_url(url, (*KIE_HOSTS, "127.0.0.1")).scheme in {"http", "https"}


@pytest.mark.parametrize(
    "url",
    [
        "https://aiquickdraw.com@evil.com/x.jpg",
        "https://user:pass@aiquickdraw.com/x.jpg",
        "https://evil.com%2F@aiquickdraw.com/",
        "https://aiquickdraw.com%40evil.com/",
        "https://aiquickdraw.com\\@evil.com/",
        "https://evilaiquickdraw.com/x.jpg",
        "ftp://aiquickdraw.com/x.jpg",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "//aiquickdraw.com/x.jpg",
        "/x.jpg",
        "https:///x.jpg",
        "https://aiquickdraw.com:99999/",
        "",
    ],
)
def test_check_url_refuses(url: str) -> None:
    """Userinfo tricks, look-alikes, other schemes and malformed URLs are refused."""
    with pytest.raises(HostNotAllowed):
        check_url(url, (*KIE_HOSTS, "127.0.0.1"))


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "https://file.aiquickdraw.com/p/a.jpg?sig=SECRET#f",
            "https://file.aiquickdraw.com/p/a.jpg",
        ),
        ("https://me:pw@aiquickdraw.com/a.jpg", "https://aiquickdraw.com/a.jpg"),
        ("http://127.0.0.1:8080/a.jpg?x=1", "http://127.0.0.1:8080/a.jpg"),
        ("http://[::1]:81/a", "http://[::1]:81/a"),
        ("https://aiquickdraw.com:99999/", "<invalid URL>"),
        ("/relative?token=1", "<relative URL>"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    """Redacted URLs keep scheme, host, port and path; never query, fragment or userinfo."""
    assert redact_url(url) == shown


def test_refusal_message_hides_the_query() -> None:
    """A refused signed URL does not leak its token into the error."""
    with pytest.raises(HostNotAllowed) as caught:
        check_url("https://evil.com/x.jpg?token=SECRET", KIE_HOSTS)
    assert "SECRET" not in str(caught.value)
    assert "SECRET" not in repr(caught.value)
    assert caught.value.url == "https://evil.com/x.jpg"
