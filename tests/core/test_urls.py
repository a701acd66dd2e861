"""Canonical URLs (the de-duplication key of an article) and link resolution."""

from __future__ import annotations

import pytest

from bot.core.urls import absolutize, canonical_url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("HTTPS://News.Example.COM/Story", "https://news.example.com/Story"),
        ("http://news.example:80/a", "http://news.example/a"),
        ("https://news.example:443/a", "https://news.example/a"),
        ("https://news.example:8443/a", "https://news.example:8443/a"),
        ("http://news.example:443/a", "http://news.example:443/a"),
        ("https://news.example", "https://news.example/"),
        ("https://news.example?", "https://news.example/"),
        ("https://news.example/a#comments", "https://news.example/a"),
        ("https://news.example/a/?b=2&a=1", "https://news.example/a/?a=1&b=2"),
        ("https://news.example/A%2Fb/", "https://news.example/A%2Fb/"),
        ("https://user:Secret@News.example/a", "https://user:Secret@news.example/a"),
        ("http://[::1]:80/a", "http://[::1]/a"),
        ("  https://news.example/a  ", "https://news.example/a"),
    ],
)
def test_canonical_url_normalises_only_what_does_not_change_the_page(url: str, expected: str) -> None:
    assert canonical_url(url) == expected


@pytest.mark.parametrize(
    "query",
    [
        "utm_source=rss",
        "utm_medium=feed&utm_campaign=x&utm_content=y&utm_term=z",
        "UTM_Source=Twitter",
        "fbclid=IwAR0abc",
        "gclid=abc&dclid=d&gclsrc=aw.ds&msclkid=m&yclid=y",
        "mc_cid=1&mc_eid=2",
        "_hsenc=x&_hsmi=y&mkt_tok=z",
        "igshid=abc",
        "ref_src=twsrc&ref_url=https%3A%2F%2Ft.co",
        "wt_mc=rss.ho.beitrag.rdf",
        "cmpid=a&ocid=b&sr_share=c&spm=d&guccounter=1",
    ],
)
def test_tracking_parameters_are_dropped(query: str) -> None:
    assert canonical_url(f"https://news.example/story?id=7&{query}") == "https://news.example/story?id=7"
    assert canonical_url(f"https://news.example/story?{query}") == "https://news.example/story"


def test_parameters_that_can_select_content_are_kept() -> None:
    # GitHub's ?ref= picks a branch; "ref" is too generic to drop everywhere.
    assert (
        canonical_url("https://github.com/o/r/blob/f.py?ref=v2") == "https://github.com/o/r/blob/f.py?ref=v2"
    )
    assert canonical_url("https://news.example/s?page=2&id=9") == "https://news.example/s?id=9&page=2"


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (
            "https://News.Example/shared?utm_source=rss&id=7#top",
            "https://news.example/shared?id=7&fbclid=abc",
        ),
        (
            "https://www.heise.de/newsticker/meldung/X-4205274.html?wt_mc=rss.ho.beitrag.rdf",
            "https://www.heise.de/newsticker/meldung/X-4205274.html",
        ),
        (
            "http://techcrunch.com:80/2011/11/02/angies-list/",
            "HTTP://TechCrunch.com/2011/11/02/angies-list/#respond",
        ),
        ("https://openai.com/index/codex?b=1&a=2&utm_medium=email", "https://openai.com/index/codex?a=2&b=1"),
    ],
)
def test_same_article_from_two_url_variants_has_one_canonical_url(a: str, b: str) -> None:
    assert canonical_url(a) == canonical_url(b)


def test_different_articles_keep_different_canonical_urls() -> None:
    assert canonical_url("https://news.example/a?id=1") != canonical_url("https://news.example/a?id=2")
    assert canonical_url("https://news.example/a") != canonical_url("https://news.example/A")
    assert canonical_url("https://news.example/a/") != canonical_url("https://news.example/a")


def test_fragments_that_address_content_can_be_kept() -> None:
    assert canonical_url("https://app.example/#!/story/7") == "https://app.example/#!/story/7"
    kept = canonical_url("http://scripting.com/2017/06/26.html?utm_source=x#a080605", keep_fragment=True)
    assert kept == "http://scripting.com/2017/06/26.html#a080605"


@pytest.mark.parametrize(
    "url", ["", "not a url", "http://[::1", "https://news.example:99999999/a", "mailto:a@b"]
)
def test_canonical_url_never_raises(url: str) -> None:
    assert isinstance(canonical_url(url), str)


@pytest.mark.parametrize(
    ("link", "base", "expected"),
    [
        (
            "/blog/2013/01/30/Plex",
            "http://intertwingly.net/blog/index.atom",
            "http://intertwingly.net/blog/2013/01/30/Plex",
        ),
        ("3308.atom", "http://intertwingly.net/blog/index.atom", "http://intertwingly.net/blog/3308.atom"),
        ("../favicon.ico", "http://intertwingly.net/blog/index.atom", "http://intertwingly.net/favicon.ico"),
        ("//cdn.example/a.png", "https://news.example/feed", "https://cdn.example/a.png"),
        ("https://other.example/x", "https://news.example/feed", "https://other.example/x"),
        ("\n  https://news.example/x \t", None, "https://news.example/x"),
        ("https://news.example/a b", None, "https://news.example/a%20b"),
    ],
)
def test_absolutize_resolves_links(link: str, base: str | None, expected: str) -> None:
    assert absolutize(link, base) == expected


@pytest.mark.parametrize(
    ("link", "base"),
    [
        (None, "https://news.example/"),
        ("", "https://news.example/"),
        ("   ", "https://news.example/"),
        ("javascript:alert(1)", "https://news.example/"),
        ("mailto:editor@news.example", "https://news.example/"),
        ("data:text/html,hi", "https://news.example/"),
        ("tag:ai-news-direct.local,2025:anthropic_news", "https://news.example/"),
        ("/relative/without/base", None),
        ("http://[broken", None),
    ],
)
def test_absolutize_keeps_only_http_urls(link: str | None, base: str | None) -> None:
    assert absolutize(link, base) is None
