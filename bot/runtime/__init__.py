"""Wiring: builds the store, fetcher, parser and service from Settings."""
