"""The link check reads a host the way a browser does: links whose real host differs from the
one `urlsplit` sees are refused, and real and sandbox authorize URLs still pass."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from layers_tui.flows.describe import link_warning

API = "https://api.layers.com"
SANDBOX = "http://127.0.0.1:8787"

ACCEPTED = {
    "tiktok": "https://www.tiktok.com/v2/auth/authorize/?client_key=abc&scope=user.info.basic"
    "&response_type=code&redirect_uri=https%3A%2F%2Fapi.layers.com%2Fcb&state=st_1",
    "tiktok business": "https://business-api.tiktok.com/portal/auth?app_id=1&state=st_2",
    "instagram": "https://api.instagram.com/oauth/authorize?client_id=1&state=st_3",
    "facebook": "https://www.facebook.com/v19.0/dialog/oauth?client_id=1&state=st_4",
    "apple": "https://appleid.apple.com/auth/authorize?client_id=x&state=st_5",
    "layers": "https://app.layers.com/oauth/ads?state=st_6",
    "upper case host": "https://WWW.TikTok.com/v2/auth/authorize/?state=st_7",
    "explicit port": "https://www.tiktok.com:443/v2/auth/authorize/",
    "fragment": "https://www.tiktok.com/auth#state=1",
}


@pytest.mark.parametrize("url", ACCEPTED.values(), ids=ACCEPTED.keys())
def test_real_authorize_urls_are_accepted(url):
    assert link_warning(url, API) is None


def test_sandbox_consent_page_is_accepted_over_http():
    url = (
        f"{SANDBOX}/sandbox/consent/st_abc?client_key=sbx1&response_type=code&scope=user.info"
        "&redirect_uri=https%3A%2F%2Fapi.layers.com%2Fapi%2Fpartner%2Fv1%2Fsocial%2F"
        "oauth-callback%2Ftiktok&state=st_abc&code_challenge=x&code_challenge_method=S256"
    )
    assert link_warning(url, SANDBOX) is None
    assert link_warning(url.replace("127.0.0.1", "localhost"), "http://LOCALHOST:9") is None
    assert link_warning("http://[::1]:8787/sandbox/consent/st", "http://[::1]:8787") is None


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example\\.tiktok.com/v2/auth/authorize/",
        "https://evil.example\\@www.tiktok.com/",
    ],
    ids=["backslash before a tiktok suffix", "backslash before a user name"],
)
def test_backslash_links_are_refused(url):
    # What made them dangerous: urlsplit sees a tiktok.com host, a browser sees evil.example.
    assert (urlsplit(url).hostname or "").endswith("tiktok.com")
    warning = link_warning(url, API)
    assert warning is not None and "backslash" in warning


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example@www.tiktok.com/",
        "https://www.tiktok.com@evil.example/",
        "https://user:pass@www.tiktok.com/",
        "https://www.tiktok.com:443@evil.example/",
        "https://@www.tiktok.com/",
    ],
)
def test_links_with_a_user_name_are_refused(url):
    warning = link_warning(url, API)
    assert warning is not None and "(@)" in warning


@pytest.mark.parametrize(
    "url",
    [
        "https://www.tiktok.com/\tx",
        "https://www.tiktok.com/ x",
        "https://www.tiktok.com/\nx",
        "https://www.tiktok.com/\x1b[31m",
        "https://www.tiktok.com/\u00a0",
        "https://www.tiktok.com/\u2028",
        "https://www.tiktok.com/\u202e",
        " https://www.tiktok.com/",
    ],
    ids=["tab", "space", "newline", "escape", "nbsp", "line separator", "bidi", "leading space"],
)
def test_control_and_space_characters_are_refused(url):
    assert link_warning(url, API) == "the link contains control or space characters"


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("https://evil.example%2F.tiktok.com/", "malformed"),
        ("https://evil.example%2e.tiktok.com/", "malformed"),
        ("https://www.tiktok.com./", "malformed"),
        ("https://evil\u3002example.tiktok.com/", "malformed"),
        ("https://www.tiktok.com:evil/", "malformed"),
        ("https://[not-ipv6]/", "malformed"),
        ("https:evil.example/", "no //"),
        ("https:/evil.example/", "no //"),
        ("https:///evil.example/", "malformed"),
        ("javascript:alert(1)//www.tiktok.com", "unexpected link scheme 'javascript'"),
        ("www.tiktok.com/auth", "no scheme"),
        ("http://www.tiktok.com/auth", "not https"),
        ("https://tiktok.com.evil.example/", "unexpected host tiktok.com.evil.example"),
        ("https://eviltiktok.com/", "unexpected host eviltiktok.com"),
        ("https://127.0.0.1:9999/consent", "unexpected host 127.0.0.1"),
    ],
)
def test_hosts_a_browser_would_read_differently_or_that_are_unknown(url, words):
    warning = link_warning(url, API)
    assert warning is not None and words in warning


def test_http_to_another_host_than_the_sandbox_is_refused():
    assert link_warning("http://evil.example/sandbox/consent/st", SANDBOX) == (
        "the link is not https"
    )
