"""The export signing key on disk (`ExportSigner.load_or_create`): made once however many
first exports race for it, and refused when others may read it (whoever read it could
sign exports as this server). Through the API under load: tests/integration/
test_api_limits.py."""

from __future__ import annotations

import stat
import threading
from pathlib import Path

import pytest

from api.export import ExportSigner
from api.export.signing import PRIVATE_KEY_NAME, PUBLIC_KEY_NAME, key_id, load_public_key
from coldchain.errors import ConfigError

RACERS = 8


def test_racing_first_uses_all_get_the_one_key_that_was_kept(tmp_path: Path) -> None:
    start = threading.Barrier(RACERS)
    signers: list[ExportSigner] = []
    failures: list[BaseException] = []

    def first_export() -> None:
        start.wait()
        try:
            signers.append(ExportSigner.load_or_create(tmp_path))
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=first_export) for _ in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    kept = ExportSigner.load_or_create(tmp_path).key_id
    assert {signer.key_id for signer in signers} == {kept}
    assert ExportSigner.load_or_create(tmp_path).key_id == kept
    assert sorted(p.name for p in (tmp_path / "keys").iterdir()) == [
        PRIVATE_KEY_NAME,
        PUBLIC_KEY_NAME,
    ]  # no temporary file left behind

    assert key_id(load_public_key(tmp_path / "keys" / PUBLIC_KEY_NAME)) == kept


def test_the_key_is_made_private_in_a_private_folder(tmp_path: Path) -> None:
    ExportSigner.load_or_create(tmp_path)
    assert stat.S_IMODE((tmp_path / "keys").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "keys" / PRIVATE_KEY_NAME).stat().st_mode) == 0o600


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604], ids=oct)
def test_a_key_others_may_read_is_refused_naming_the_path_and_the_fix(
    tmp_path: Path, mode: int
) -> None:
    ExportSigner.load_or_create(tmp_path)
    path = tmp_path / "keys" / PRIVATE_KEY_NAME
    path.chmod(mode)
    with pytest.raises(ConfigError) as refused:
        ExportSigner.load_or_create(tmp_path)
    message = str(refused.value)
    assert str(path) in message
    assert f"mode {mode:04o}" in message
    assert "chmod 600" in message
    assert "BEGIN PRIVATE KEY" not in message
