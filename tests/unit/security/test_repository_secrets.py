"""The repository holds no secret: no key, no hash, no token, no password in a config."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests.support.needs import missing
from tests.support.secrets_registry import find_secrets

_REPO = Path(__file__).resolve().parents[3]
# Files where a password would be configuration rather than code.
_CONFIG_SUFFIXES = {".conf", ".yaml", ".yml", ".toml", ".env", ".ini", ".json", ".cfg"}
_ASSIGNED_PASSWORD = re.compile(
    r"(?i)\b(password|passwd|secret|token|api_key)\b\s*[:=]\s*['\"]?(?P<value>[^\s'\"#]{8,})"
)
_SECRET_FILE_NAMES = re.compile(r"(^|/)(passwd|[^/]*\.(secret|key|pem|p12|pfx)|\.env)$")
# The unit test of the hash format quotes one made by mosquitto_passwd for "s3cret".
_KNOWN_TEST_VECTORS = {"tests/unit/security/test_broker_auth.py"}


def _repository_files() -> list[str]:
    try:
        listed = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
            cwd=_REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        missing("a git checkout", f"run the tests in a clone of the repository ({exc})")
    return sorted({line for line in listed.splitlines() if (_REPO / line).is_file()})


def test_no_file_in_the_repository_holds_a_secret() -> None:
    leaks = []
    for name in _repository_files():
        if _SECRET_FILE_NAMES.search(name):
            leaks.append(f"{name}: a secret's file name")
            continue
        try:
            text = (_REPO / name).read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue  # binary: fonts, images
        if name not in _KNOWN_TEST_VECTORS:
            leaks += [f"{name}: {kind}" for kind in find_secrets(text)]
        if Path(name).suffix in _CONFIG_SUFFIXES:
            for match in _ASSIGNED_PASSWORD.finditer(text):
                if not match["value"].startswith(("$", "<", "{")):  # $ENV, <placeholder>
                    leaks.append(f"{name}: {match[1]} assigned a literal value")
    assert leaks == []


def test_the_scan_would_see_a_private_key_a_hash_and_a_token() -> None:
    # Assembled at run time, so this file does not hold what it describes.
    text = "-----BEGIN " + "PRIVATE KEY-----\n$argon2" + "id$v=19$m=65536,t=3\ncct_" + "x" * 43
    assert find_secrets(text) == ["PEM private key", "argon2 hash", "API token"]
    assert find_secrets("mqtt://gw:" + "s3cr3tpass@host:1883") == ["password in a URL"]
    assert find_secrets("mqtt://user:password@host:1883") == []
    assert find_secrets("a value", ["a value"]) == ["<registered secret>"]
