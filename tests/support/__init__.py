"""What many tests share, as one package registered as a pytest plugin (tests/conftest.py):
fixtures are found by name, never imported from another test's conftest."""
