"""The `coldchain` command: parses options, builds settings, calls each service."""
