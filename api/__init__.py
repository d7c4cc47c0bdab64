"""The HTTP API and web page (docs/design.md §6): FastAPI under /v1, built by `api.app.create_app`.

Kept free of imports so `coldchain export` and `verify` (api.export) do not load the web app.
"""
