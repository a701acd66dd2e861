"""Fetching (httpx behind an SSRF guard) and parsing (feedparser, JSON Feed) of news feeds."""
