"""Turning a fetched feed body into a :class:`ParsedFeed`.

RSS 0.9x/1.0/2.0 and Atom go through feedparser (always as an in-memory stream, never
a URL or path); JSON Feed 1.0/1.1 and RSS-in-JSON, which feedparser does not read, are
parsed here. Every entry comes out cleaned: plain text, absolute http(s) links, a
canonical URL for de-duplication, a stable item id and an aware UTC date.

``parse_feed`` is a plain top-level function of picklable values so that it can run
in worker processes.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import re
import time
import unicodedata
import xml.sax.expatreader
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import feedparser
import feedparser.mixin

from bot.core.models import ParsedEntry, ParsedFeed
from bot.core.text import clean_inline, html_to_text, lead, plain_text
from bot.core.urls import absolutize, canonical_url
from bot.errors import ParseError

__all__ = ["SUMMARY_LIMIT", "parse_feed"]

SUMMARY_LIMIT = 400  # characters of ParsedEntry.summary
_TITLE_LIMIT = 100  # characters of a title made from the text, for items without one
_UNTITLED = "(untitled)"


def _memoize_feedparser_urls() -> None:
    """Cache feedparser's URL joining, which it repeats for every element.

    feedparser re-resolves xml:base against the document's base URI on each start tag;
    with a Content-Location that is a urljoin per element, a fifth to a quarter of its
    parse time on typical feeds. Both functions are pure string functions, so caching
    them changes nothing but speed.
    """
    for name in ("_urljoin", "make_safe_absolute_uri"):
        fn = getattr(feedparser.mixin, name, None)
        if callable(fn) and not hasattr(fn, "cache_info"):
            setattr(feedparser.mixin, name, functools.lru_cache(maxsize=1024)(fn))
    joined = feedparser.mixin._urljoin

    def urljoin(base: str, uri: str) -> str:
        # Every item's link and permalink is unique, so the cache cannot help: an absolute
        # http(s) URL that urljoin would hand back unchanged is returned at once.
        return uri if _PLAIN_ABSOLUTE.match(uri) else str(joined(base, uri))

    feedparser.mixin._urljoin = urljoin


# http(s) URLs that urllib's urljoin returns unchanged: a plain host (and port) right after
# "//", and no character it would strip or re-split (whitespace, ";" params, an empty "?"
# or "#").
_PLAIN_ABSOLUTE = re.compile(r"https?://[A-Za-z0-9.:-]+(?:/[^\s;?#]*)?(?:\?[^\s;#]+)?(?:#[^\s;]+)?\Z")

_memoize_feedparser_urls()


class _ShallowCopy:
    """Stands in for the ``copy`` module inside feedparser's mixin.

    feedparser deep-copies its ``contentparams`` (a flat dict of strings: type, language,
    base) for every text element it closes; a shallow copy of a flat dict of immutable
    values is the same thing, at a fraction of the cost.
    """

    @staticmethod
    def deepcopy(value: Any) -> Any:
        return type(value)(value) if isinstance(value, dict) else value


feedparser.mixin.copy = _ShallowCopy


def _fast_feedparser_dict() -> None:
    """Give feedparser's dict a direct path for keys that need no translation.

    ``FeedParserDict.__getitem__`` runs a chain of special cases (``category``,
    ``enclosures``, ``license``, the ``updated`` fallback, the legacy key map) before the
    plain lookup, and feedparser reads its context dicts hundreds of times per entry:
    about an eighth of its parse time. Keys outside those special cases get the plain
    dict lookup they would have reached anyway; the special ones keep the original code.
    """
    cls = feedparser.util.FeedParserDict
    if getattr(cls, "_briefbot_fast", False):
        return
    special = frozenset({"category", "enclosures", "license", "updated", "updated_parsed"})
    special |= frozenset(cls.keymap)
    original = cls.__getitem__
    plain_getitem, plain_get = dict.__getitem__, dict.get

    def getitem(self: dict[str, Any], key: str) -> Any:
        return original(self, key) if key in special else plain_getitem(self, key)

    def get(self: dict[str, Any], key: str, default: Any = None) -> Any:
        if key in special:
            try:
                return original(self, key)
            except KeyError:
                return default
        return plain_get(self, key, default)

    cls.__getitem__ = getitem
    cls.get = get
    cls._briefbot_fast = True


_fast_feedparser_dict()


def _buffer_expat_text() -> None:
    """Have expat deliver each run of text in one piece.

    Without ``buffer_text``, expat reports character data in pieces, split at every entity
    reference and line break, so an escaped HTML description (``&lt;p&gt;...``) reaches
    feedparser as dozens of calls through three Python layers; feedparser only joins the
    pieces of an element again, so one call per run gives the same text. Applies to the
    SAX expat reader feedparser uses in this process.
    """
    reader = xml.sax.expatreader.ExpatParser
    if getattr(reader, "_briefbot_buffered", False):
        return
    original = reader.reset

    def reset(self: xml.sax.expatreader.ExpatParser) -> None:
        original(self)
        self._parser.buffer_text = True  # type: ignore[attr-defined]

    reader.reset = reset  # type: ignore[method-assign]
    reader._briefbot_buffered = True  # type: ignore[attr-defined]


_buffer_expat_text()


@dataclass(slots=True)
class _Item:
    """One entry as read from the document, before cleaning."""

    guid: str | None = None
    link: str | None = None
    title: str = ""
    title_html: bool = True
    bodies: list[tuple[str, bool]] = field(default_factory=list)  # (value, is_html) full content
    summary: tuple[str, bool] | None = None
    author: str | None = None
    published: datetime | None = None
    date_raw: str = ""


def parse_feed(body: bytes, url: str, headers: Mapping[str, str] | None = None) -> ParsedFeed:
    """Parse a feed document fetched from ``url``.

    ``headers`` are the HTTP response headers (any case); Content-Type picks the
    charset and tells JSON from XML. Relative links resolve against ``url`` (and
    xml:base). Raises :class:`ParseError` when nothing readable is there; a recoverable
    problem (malformed XML, a wrong charset) is reported in ``ParsedFeed.warning``.
    """
    hdrs = {k.lower(): v for k, v in (headers or {}).items()}
    document = without_lead_in(body)
    first = document[len(_BOM) : len(_BOM) + 1] if document.startswith(_BOM) else document[:1]
    if not first:
        raise ParseError("the response body is empty")
    if first == b"{" or (first != b"<" and "json" in hdrs.get("content-type", "").lower()):
        return _parse_json(body, url)
    return _parse_xml(document, url, hdrs)


def without_lead_in(body: bytes) -> bytes:
    """``body`` without the whitespace before its first character (a UTF-8 BOM is kept).

    Whitespace before the XML declaration makes expat reject the document and feedparser
    fall back to its slower, looser parser; :func:`parse_feed` reads XML without it, and
    so must anything that counts byte offsets into what it reads (``bot.ingest.items``).
    """
    lead_in = _LEAD_IN.match(body)
    assert lead_in is not None  # the pattern matches the empty string
    bom = lead_in.group(1) or b""
    return bom + body[lead_in.end() :] if lead_in.end() > len(bom) else body


_BOM = b"\xef\xbb\xbf"
_LEAD_IN = re.compile(rb"(\xef\xbb\xbf)?[ \t\r\n]*")  # UTF-8 BOM, then whitespace


# --- XML, through feedparser -------------------------------------------------------------


def _parse_xml(body: bytes, url: str, hdrs: dict[str, str]) -> ParsedFeed:
    hdrs["content-location"] = url
    content_type = hdrs.get("content-type", "")
    if not content_type or (
        content_type.lower().startswith("text/") and "charset" not in content_type.lower()
    ):
        # RFC 7303: without a charset the XML declaration decides, not us-ascii (RFC 3023,
        # which feedparser follows); with no Content-Type at all feedparser would assume
        # ISO-8859-1 for undeclared documents.
        hdrs["content-type"] = "application/xml"
    d = feedparser.parse(
        io.BytesIO(body), response_headers=hdrs, sanitize_html=False, resolve_relative_uris=False
    )
    feed = d.get("feed") or {}
    title = _xml_text_inline(_field(feed, "title"), _field(feed, "title_detail")) or None
    entries = d.get("entries") or []
    warning = _bozo_message(d.get("bozo_exception")) if d.get("bozo") else None
    # No entries is fine for a feed that says what it is (a title, no parse error);
    # without a recognised format any <title> is a web page's.
    if not entries and (not d.get("version") or (not title and warning)):
        head = body[:1024].lower()
        if b"<html" in head or b"<!doctype html" in head:
            raise ParseError("the response is an HTML page, not a feed")
        raise ParseError(f"no RSS, Atom or JSON feed found ({warning or 'unrecognised XML'})")

    is_atom = str(d.get("version") or "").startswith("atom")
    feed_author = _person(feed) if is_atom else None
    items = [_xml_item(e, feed_author) for e in entries]
    site_url = absolutize(_field(feed, "link"), url)
    return ParsedFeed(title=title, site_url=site_url, entries=_finish(items, url), warning=warning)


def _field(d: object, key: str) -> Any:
    """A value of a feedparser dict by its canonical key.

    A plain dict lookup: ``FeedParserDict.get`` maps legacy aliases in Python code and
    costs several times more, which adds up over ~20 lookups per entry.
    """
    return dict.get(d, key) if isinstance(d, dict) else None


def _bozo_message(exc: object) -> str:
    if exc is None:
        return "the document is not well-formed"
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}"[:300]


def _is_html_type(detail: object) -> bool:
    """Whether a feedparser text construct (``*_detail``, ``content[i]``) is (X)HTML."""
    content_type = _field(detail, "type")
    return not isinstance(content_type, str) or "html" in content_type


_HTML_HINT = re.compile(
    r"</?(?:a|abbr|b|blockquote|br|cite|code|del|div|em|figure|h[1-6]|hr|i|img|ins|li|mark|ol|p|pre|q"
    r"|s|small|span|strong|sub|sup|table|td|th|tr|u|ul)\b[^<>]*>|&(?:#[0-9]+|#x[0-9a-f]+|[a-z][a-z0-9]*);",
    re.IGNORECASE,
)


def _text_of(value: str, is_html: bool) -> str:
    """Plain text of a feed text construct; "plain" text that clearly holds markup is HTML."""
    if is_html or _HTML_HINT.search(value):
        return html_to_text(value)
    return plain_text(value)


def _xml_text_inline(value: object, detail: object) -> str:
    if not isinstance(value, str) or not value:
        return ""
    is_html = _is_html_type(detail) or bool(_HTML_HINT.search(value))
    return clean_inline(value, is_html=is_html)


def _person(d: object) -> str | None:
    raw = _field(_field(d, "author_detail"), "name") or _field(d, "author")
    if not isinstance(raw, str):
        return None
    return clean_inline(raw, is_html=bool(_HTML_HINT.search(raw))) or None


_SLASH_DATE = re.compile(r"\s*\d{4}/")


def _xml_item(e: object, feed_author: str | None) -> _Item:
    item = _Item()
    guid = _field(e, "id")
    if isinstance(guid, str) and guid.strip():
        item.guid = guid.strip()
    item.link = _entry_link(e)
    title = _field(e, "title")
    if isinstance(title, str):
        item.title = title
        item.title_html = _is_html_type(_field(e, "title_detail"))
    for content in _field(e, "content") or ():
        value = _field(content, "value")
        if isinstance(value, str) and value.strip():
            item.bodies.append((value, _is_html_type(content)))
    summary = _field(e, "summary")
    if isinstance(summary, str) and summary.strip():
        item.summary = (summary, _is_html_type(_field(e, "summary_detail")))
    item.author = _person(e) or feed_author
    for key in ("published", "updated", "created"):
        raw = _field(e, key)
        parsed = _struct_to_datetime(_field(e, key + "_parsed"))
        if isinstance(raw, str) and raw.strip():
            item.date_raw = item.date_raw or raw.strip()
            # feedparser reads "2020/1/10 14:33:00" as 2020-11-01: it is not ISO 8601
            if parsed is None or _SLASH_DATE.match(raw):
                parsed = _parse_date(raw)
        if parsed is not None:
            item.published = parsed
            break
    return item


def _entry_link(e: object) -> str | None:
    """The entry's page: FeedBurner's original link, else the (first alternate) link."""
    for key in ("feedburner_origlink", "link"):
        link = _field(e, key)
        if isinstance(link, str) and link.strip():
            return link
    for candidate in _field(e, "links") or ():
        href = _field(candidate, "href")
        if _field(candidate, "rel") in (None, "alternate") and isinstance(href, str) and href.strip():
            return href
    return None


def _struct_to_datetime(st: object) -> datetime | None:
    """feedparser's *_parsed values are UTC struct_time."""
    if not isinstance(st, time.struct_time):
        return None
    try:
        return datetime(*st[:5], min(st[5], 59), tzinfo=UTC)
    except (ValueError, OverflowError):
        return None


# --- dates written by hand ----------------------------------------------------------------

_NUMERIC_DATE = re.compile(
    r"\s*(\d{4})[/.-](\d{1,2})[/.-](\d{1,2})(?:[T\s]+(\d{1,2}):(\d{2})(?::(\d{2}))?)?\s*"
    r"(Z|UTC|GMT|[+-]\d{2}:?\d{2})?\s*$",
    re.IGNORECASE,
)
# Month names of languages whose feeds write RFC 822 dates in translation
# (first letters, accents removed): pt, es, fr, de, it, nl.
_MONTHS = {
    "jan": "Jan", "ene": "Jan", "gen": "Jan",
    "fev": "Feb", "feb": "Feb",
    "mar": "Mar", "mrz": "Mar", "maa": "Mar", "mrt": "Mar",
    "abr": "Apr", "avr": "Apr", "apr": "Apr",
    "mai": "May", "may": "May", "mag": "May", "mei": "May",
    "jun": "Jun", "juin": "Jun", "giu": "Jun",
    "jul": "Jul", "juil": "Jul", "lug": "Jul",
    "ago": "Aug", "aou": "Aug", "aug": "Aug",
    "set": "Sep", "sep": "Sep",
    "out": "Oct", "oct": "Oct", "okt": "Oct", "ott": "Oct",
    "nov": "Nov",
    "dez": "Dec", "dic": "Dec", "dec": "Dec",
}  # fmt: skip
_WORD = re.compile(r"[^\W\d_]+\.?")


def _month(m: re.Match[str]) -> str:
    word = unicodedata.normalize("NFKD", m.group(0).rstrip(".").lower())
    word = "".join(c for c in word if not unicodedata.combining(c))
    return _MONTHS.get(word[:4]) or _MONTHS.get(word[:3]) or m.group(0)


def _parse_date(raw: str) -> datetime | None:
    """An aware UTC datetime from a date string feedparser could not read (or misread).

    Tries ISO 8601, RFC 822, "YYYY/M/D [H:M[:S]]" and RFC 822 with month names in
    Portuguese, Spanish, French, German, Italian or Dutch. A date without a zone is
    taken as UTC.
    """
    s = raw.strip()
    if not s:
        return None
    dt: datetime | None = None
    try:
        dt = datetime.fromisoformat(s)
    except ValueError:
        m = _NUMERIC_DATE.match(s)
        if m:
            year, month, day, hour, minute, second, zone = m.groups()
            tz = UTC
            if zone and zone[0] in "+-":
                sign = -1 if zone[0] == "-" else 1
                digits = zone[1:].replace(":", "")
                tz = timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
            try:
                dt = datetime(
                    int(year),
                    int(month),
                    int(day),
                    int(hour or 0),
                    int(minute or 0),
                    int(second or 0),
                    tzinfo=tz,
                )
            except ValueError:
                return None
        else:
            dt = _rfc822(s)
            if dt is None:  # month names in another language; drop the weekday before the comma
                weekday, comma, rest = s.partition(",")
                dt = _rfc822(_WORD.sub(_month, rest if comma and not re.search(r"\d", weekday) else s))
    return _as_utc(dt) if dt is not None else None


def _rfc822(s: str) -> datetime | None:
    try:
        return parsedate_to_datetime(s)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _as_utc(dt: datetime) -> datetime | None:
    """``dt`` in UTC (a naive one is taken as UTC); None when implausible for a feed."""
    try:
        dt = dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
    except (OverflowError, ValueError):
        return None
    return dt if 1970 <= dt.year <= 2200 else None


# --- JSON Feed and RSS-in-JSON --------------------------------------------------------------


def _parse_json(body: bytes, url: str) -> ParsedFeed:
    try:
        doc = json.loads(body.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise ParseError(f"the JSON feed is not valid UTF-8 ({exc.reason} at byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise ParseError(f"the JSON feed is not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(doc, dict):
        raise ParseError("the JSON document is not a feed (no JSON Feed or RSS object)")
    version = _str(doc.get("version")) or ""
    if "jsonfeed.org/version/" in version or (isinstance(doc.get("items"), list) and "rss" not in doc):
        return _json_feed(doc, url)
    rss = doc.get("rss")
    channel = rss.get("channel") if isinstance(rss, dict) else None
    if isinstance(channel, dict):
        return _rss_in_json(channel, url)
    raise ParseError("the JSON document is neither a JSON Feed nor RSS-in-JSON")


def _str(value: object) -> str | None:
    """A JSON value as a stripped string (RSS-in-JSON puts text in {"#value": ...})."""
    if isinstance(value, dict):
        value = value.get("#value")
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        value = str(value)
    if not isinstance(value, str):
        return None
    return value.strip() or None


def _json_author(item: Mapping[str, Any]) -> str | None:
    authors = item.get("authors")
    people = authors if isinstance(authors, list) else [item.get("author")]
    names = [_str(p.get("name")) if isinstance(p, dict) else _str(p) for p in people]
    joined = ", ".join(n for n in names if n)
    return clean_inline(joined, is_html=False) or None


def _json_feed(doc: Mapping[str, Any], url: str) -> ParsedFeed:
    feed_author = _json_author(doc)
    items: list[_Item] = []
    raw_items = doc.get("items")
    for raw in raw_items if isinstance(raw_items, list) else ():
        if not isinstance(raw, dict):
            continue
        item = _Item(guid=_str(raw.get("id")), link=_str(raw.get("url")) or _str(raw.get("external_url")))
        item.title = _str(raw.get("title")) or ""
        item.title_html = False
        html = _str(raw.get("content_html"))
        if html:
            item.bodies.append((html, True))
        text = _str(raw.get("content_text"))
        if text:
            item.bodies.append((text, False))
        summary = _str(raw.get("summary"))
        if summary:
            item.summary = (summary, False)
        item.author = _json_author(raw) or feed_author
        for key in ("date_published", "date_modified"):
            date = _str(raw.get(key))
            if date:
                item.date_raw = item.date_raw or date
                item.published = _parse_date(date)
                if item.published:
                    break
        items.append(item)
    title = clean_inline(_str(doc.get("title")) or "", is_html=False) or None
    if not items and not title:
        raise ParseError("the JSON Feed has neither items nor a title")
    site_url = absolutize(_str(doc.get("home_page_url")), url)
    return ParsedFeed(title=title, site_url=site_url, entries=_finish(items, url))


def _rss_in_json(channel: Mapping[str, Any], url: str) -> ParsedFeed:
    raw_items = channel.get("item")
    if isinstance(raw_items, dict):
        raw_items = [raw_items]
    items: list[_Item] = []
    for raw in raw_items if isinstance(raw_items, list) else ():
        if not isinstance(raw, dict):
            continue
        guid = raw.get("guid")
        item = _Item(guid=_str(guid), link=_str(raw.get("link")))
        if (
            not item.link
            and isinstance(guid, dict)
            and str(guid.get("isPermaLink", "true")).lower() != "false"
        ):
            item.link = item.guid
        item.title = _str(raw.get("title")) or ""
        description = _str(raw.get("description"))
        if description:
            item.summary = (description, True)
        author = _str(raw.get("author")) or _str(raw.get("dc:creator"))
        if author:
            item.author = clean_inline(author, is_html=False) or None
        date = _str(raw.get("pubDate")) or _str(raw.get("dc:date"))
        if date:
            item.date_raw = date
            item.published = _parse_date(date)
        items.append(item)
    title = clean_inline(_str(channel.get("title")) or "") or None
    if not items and not title:
        raise ParseError("the RSS-in-JSON document has neither items nor a title")
    site_url = absolutize(_str(channel.get("link")), url)
    return ParsedFeed(title=title, site_url=site_url, entries=_finish(items, url))


# --- from raw items to entries -------------------------------------------------------------


def _unwrap_redirect(link: str) -> str:
    """The target of a Google redirect wrapper (google.com/url?url=...), else ``link``."""
    if "google." not in link or "/url?" not in link:
        return link
    parts = urlsplit(link)
    host = (parts.hostname or "").removeprefix("www.")
    if parts.path != "/url" or not re.fullmatch(r"google\.[a-z.]+", host):
        return link
    params = dict(parse_qsl(parts.query))
    target = absolutize(params.get("url") or params.get("q"), None)
    return target or link


def _finish(items: Iterable[_Item], base: str) -> list[ParsedEntry]:
    """Clean raw items into entries: links, canonical URLs, text, summary, ids."""
    prepared = []
    for item in items:
        url = absolutize(item.link, base)
        if url is not None:
            url = _unwrap_redirect(url)
        prepared.append((item, url, canonical_url(url) if url else None))

    # Items that differ only by fragment (scripting.com/2017/06/26.html#a080605) are
    # different posts: keep the fragment in their canonical URL.
    fragments: dict[str, set[str]] = {}
    for _, url, canon in prepared:
        if url and canon:
            fragments.setdefault(canon, set()).add(url.partition("#")[2])
    entries: list[ParsedEntry] = []
    seen: set[str] = set()
    for item, url, canon in prepared:
        if url and canon and len(fragments[canon]) > 1:
            canon = canonical_url(url, keep_fragment=True)
        entry = _entry(item, url, canon)
        if entry.item_id not in seen:
            seen.add(entry.item_id)
            entries.append(entry)
    return entries


def _entry(item: _Item, url: str | None, canon: str | None) -> ParsedEntry:
    candidates = [*item.bodies, item.summary] if item.summary else item.bodies
    body = max(candidates, key=lambda c: len(c[0]), default=None)
    text = _text_of(*body) if body else ""
    summary_text = ""
    if item.summary and body and item.summary[0] != body[0]:
        summary_text = _text_of(*item.summary)
    summary = lead(summary_text if summary_text and summary_text != text else text, SUMMARY_LIMIT)

    title = clean_inline(item.title, is_html=item.title_html or bool(_HTML_HINT.search(item.title)))
    if not title:
        title = lead(text, _TITLE_LIMIT) or _UNTITLED

    if item.guid:
        item_id = item.guid
    elif canon:
        item_id = canon
    else:
        key = f"{title}\n{item.date_raw}" if title != _UNTITLED or item.date_raw else f"{title}\n{text}"
        item_id = "sha256:" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
    return ParsedEntry(
        item_id=item_id,
        url=url,
        canonical_url=canon,
        title=title,
        text=text,
        summary=summary,
        author=item.author,
        published=item.published,
    )
