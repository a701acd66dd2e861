"""Small feed documents built in tests (the real-world ones come from ../shared/corpus)."""

from __future__ import annotations

from xml.sax.saxutils import escape


def rss(items: list[tuple[str, str, str]], *, title: str = "Test feed") -> bytes:
    """An RSS 2.0 document; each item is (guid, title, link)."""
    parts = [
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>{escape(title)}</title>'
    ]
    parts.append("<link>https://news.example/</link>")
    for n, (guid, item_title, link) in enumerate(items):
        parts.append(
            f"<item><guid isPermaLink='false'>{escape(guid)}</guid><title>{escape(item_title)}</title>"
            f"<link>{escape(link)}</link><pubDate>Mon, 0{1 + n % 9} Dec 2025 10:00:00 GMT</pubDate>"
            f"<description>&lt;p&gt;{escape(item_title)} body text.&lt;/p&gt;</description></item>"
        )
    parts.append("</channel></rss>")
    return "".join(parts).encode()


def numbered(prefix: str, count: int, *, start: int = 0) -> list[tuple[str, str, str]]:
    """``count`` distinct items: guid ``prefix-i``, a title and a link."""
    return [
        (f"{prefix}-{i}", f"{prefix} story {i}", f"https://news.example/{prefix}/{i}")
        for i in range(start, start + count)
    ]
