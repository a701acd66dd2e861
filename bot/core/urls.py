"""URL helpers: the de-duplication key of an article URL, and resolving feed links.

Standard library only; pure functions, safe to call from worker processes.
"""

from __future__ import annotations

from urllib.parse import unquote_plus, urljoin, urlsplit, urlunsplit

__all__ = ["TRACKING_PARAMS", "TRACKING_PREFIXES", "absolutize", "canonical_url"]

# Query parameters that only say how a reader reached a page (campaign, click and
# mail-list ids), never which page it is. Matched case-insensitively.
#
# Deliberately NOT dropped, because real sites use them to pick content:
#   ref   GitHub/GitLab (?ref=<branch or tag>), shops and search forms
#   amp   ?amp=1 on some sites is the same story, on others it selects a page variant
#   source, from, cmp, campaign, id-like names: far too generic
TRACKING_PARAMS: frozenset[str] = frozenset(
    {
        # ad-click ids
        "fbclid",
        "gclid",
        "gclsrc",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "yclid",
        "twclid",
        "ttclid",
        "li_fat_id",
        "igshid",
        "rb_clickid",
        # mailing lists and marketing automation (Mailchimp, HubSpot, Marketo, Omeda, Vero)
        "mc_cid",
        "mc_eid",
        "_hsenc",
        "_hsmi",
        "mkt_tok",
        "oly_anon_id",
        "oly_enc_id",
        "vero_id",
        # analytics linkers and campaign codes (Google, Adobe, Webtrends, Matomo, MSN, Yahoo)
        "_ga",
        "_gl",
        "s_cid",
        "wt_mc",
        "wt.mc_id",
        "pk_campaign",
        "pk_kwd",
        "pk_source",
        "pk_medium",
        "pk_content",
        "cmpid",
        "ocid",
        "ncid",
        # share widgets and consent redirects (Twitter, Reuters/WaPo, Alibaba, Yahoo)
        "ref_src",
        "ref_url",
        "sr_share",
        "spm",
        "guccounter",
        "guce_referrer",
        "guce_referrer_sig",
    }
)
TRACKING_PREFIXES: tuple[str, ...] = ("utm_", "mtm_")

_DEFAULT_PORTS = {"http": "80", "https": "443"}
_WEB_SCHEMES = frozenset({"http", "https"})


def _is_tracking(pair: str) -> bool:
    key = pair.split("=", 1)[0]
    if "%" in key or "+" in key:
        key = unquote_plus(key)
    key = key.strip().lower()
    return key in TRACKING_PARAMS or key.startswith(TRACKING_PREFIXES)


def _clean_query(query: str) -> str:
    pairs = [p for p in query.split("&") if p and not _is_tracking(p)]
    if len(pairs) > 1:
        pairs.sort()
    return "&".join(pairs)


def _clean_netloc(scheme: str, netloc: str) -> str:
    userinfo, at, hostport = netloc.rpartition("@")
    if hostport.startswith("["):  # IPv6 literal: [::1]:8080
        close = hostport.find("]")
        host, port = (hostport, "") if close < 0 else (hostport[: close + 1], hostport[close + 1 :])
        port = port[1:] if port.startswith(":") else ""
    else:
        host, colon, port = hostport.rpartition(":")
        if not colon or not port.isdigit():
            host, port = hostport, ""
            if host.endswith(":"):  # "example.com:" is the default port
                host = host[:-1]
    host = host.lower()
    if port and port.lstrip("0") == _DEFAULT_PORTS.get(scheme):
        port = ""
    return f"{userinfo}{at}{host}{':' + port if port else ''}"


def canonical_url(url: str, *, keep_fragment: bool = False) -> str:
    """The de-duplication key for an article URL.

    Lower-cases the scheme and host, drops the default port (80/443), the fragment,
    tracking parameters (``utm_*``, ``fbclid``, ``gclid``, ...; see ``TRACKING_PARAMS``)
    and an empty query, sorts the remaining query parameters, and turns an empty path
    into ``/``. Everything else (path case, percent-escapes, trailing slashes) is kept.

    A ``#!`` fragment (hash-bang address) is kept because it names the page; pass
    ``keep_fragment=True`` to keep any fragment, for sites whose items differ only by it.
    Unparseable input comes back stripped, unchanged otherwise.
    """
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    scheme = parts.scheme.lower()
    netloc = _clean_netloc(scheme, parts.netloc) if parts.netloc else ""
    path = parts.path
    if not path and netloc and scheme in _WEB_SCHEMES:
        path = "/"
    query = _clean_query(parts.query) if parts.query else ""
    fragment = parts.fragment if keep_fragment or parts.fragment.startswith("!") else ""
    return urlunsplit((scheme, netloc, path, query, fragment))


def absolutize(link: str | None, base: str | None) -> str | None:
    """Resolve ``link`` against ``base``; None unless the result is an http(s) URL with a host."""
    if not link:
        return None
    link = link.strip()
    if not link:
        return None
    if " " in link:
        link = link.replace(" ", "%20")
    try:
        absolute = link[:8].lower().startswith(("http://", "https://"))
        resolved = urljoin(base.strip(), link) if base and not absolute else link
        parts = urlsplit(resolved)
    except ValueError:
        return None
    if parts.scheme not in _WEB_SCHEMES or not parts.hostname:
        return None
    return resolved
