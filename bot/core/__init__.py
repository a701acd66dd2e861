"""The domain of briefbot: models, policies and the service API; no SDK, HTTP or SQL."""
