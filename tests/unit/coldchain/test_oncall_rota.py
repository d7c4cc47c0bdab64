"""Who is on call at a moment (coldchain/catalog/rota.py), and the fleet file's
`sites[].oncall` refused with line and field when it cannot mean one rota."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from coldchain.catalog.rota import Rota
from coldchain.errors import ConfigError
from coldchain.fleet import OnCall, load_fleet

ZURICH_WEEKDAYS = {
    "escalate_after_min": 10,
    "shifts": [
        {
            "weekdays": ["mon", "tue", "wed", "thu", "fri"],
            "from": "08:00",
            "to": "18:00",
            "chain": [{"name": "Dana", "email": "dana@cmo.example"}],
        },
        {
            "weekdays": ["fri"],
            "from": "18:00",
            "to": "08:00",
            "chain": [{"name": "Nico", "webhook": "https://pager.example/nico"}],
        },
    ],
}


def _rota(oncall: dict[str, object], timezone: str = "UTC") -> Rota:
    return Rota.from_fleet(OnCall.model_validate(oncall), timezone)


def _on_call(rota: Rota, at: str) -> str | None:
    shift = rota.shift_at(datetime.fromisoformat(at))
    return None if shift is None else shift.chain[0].name


def test_the_first_listed_shift_in_force_is_on_call() -> None:
    rota = _rota(
        {
            "escalate_after_min": 5,
            "shifts": [
                {
                    "from": "2026-12-07T08:00:00Z",
                    "to": "2026-12-07T12:00:00Z",
                    "chain": [{"name": "Ana", "email": "ana@cmo.example"}],
                },
                {
                    "from": "2026-12-07T00:00:00Z",
                    "to": "2026-12-08T00:00:00Z",
                    "chain": [{"name": "Ben", "email": "ben@cmo.example"}],
                },
            ],
        }
    )
    assert _on_call(rota, "2026-12-07T09:00:00+00:00") == "Ana"
    assert _on_call(rota, "2026-12-07T13:00:00+00:00") == "Ben"


def test_nobody_is_on_call_outside_every_shift_and_a_shift_ends_at_its_to() -> None:
    rota = _rota(
        {
            "escalate_after_min": 5,
            "shifts": [
                {
                    "from": "2026-12-07T08:00:00+01:00",
                    "to": "2026-12-07T18:00:00+01:00",
                    "chain": [{"name": "Ana", "email": "ana@cmo.example"}],
                }
            ],
        }
    )
    assert _on_call(rota, "2026-12-07T07:00:00+00:00") == "Ana"  # 08:00 at +01:00: begun
    assert _on_call(rota, "2026-12-07T17:00:00+00:00") is None  # 18:00 at +01:00: over
    assert _on_call(rota, "2026-12-06T12:00:00+00:00") is None


def test_a_weekly_shift_is_read_on_the_sites_wall_clock() -> None:
    rota = _rota(ZURICH_WEEKDAYS, "Europe/Zurich")
    # Monday 07:30 UTC is 08:30 in Zurich (winter, +01:00); 06:30 UTC is 07:30 there.
    assert _on_call(rota, "2026-12-07T07:30:00+00:00") == "Dana"
    assert _on_call(rota, "2026-12-07T06:30:00+00:00") is None
    # Summer time (+02:00): 16:30 UTC is 18:30 in Zurich, after the shift.
    assert _on_call(rota, "2026-07-06T16:30:00+00:00") is None
    assert _on_call(rota, "2026-07-06T15:30:00+00:00") == "Dana"
    assert _on_call(rota, "2026-12-12T10:00:00+00:00") is None  # a Saturday


def test_an_overnight_weekly_shift_runs_into_the_next_day() -> None:
    rota = _rota(ZURICH_WEEKDAYS, "Europe/Zurich")
    assert _on_call(rota, "2026-12-11T17:30:00+00:00") == "Nico"  # Friday 18:30 in Zurich
    assert _on_call(rota, "2026-12-12T06:30:00+00:00") == "Nico"  # Saturday 07:30
    assert _on_call(rota, "2026-12-12T07:30:00+00:00") is None  # Saturday 08:30: over
    assert _on_call(rota, "2026-12-13T06:30:00+00:00") is None  # Sunday 07:30: not begun Sat


def test_the_rota_as_audited_redacts_a_hooks_token() -> None:
    rota = _rota(
        {
            "escalate_after_min": 2.5,
            "shifts": [
                {
                    "weekdays": ["fri", "mon"],
                    "from": "08:00",
                    "to": "18:00",
                    "chain": [{"name": "Nico", "webhook": "https://pager.example/p?token=abc"}],
                }
            ],
        }
    )
    assert rota.document() == {
        "escalate_after_min": 2.5,
        "shifts": [
            {
                "weekdays": ["mon", "fri"],
                "from": "08:00",
                "to": "18:00",
                "chain": [{"name": "Nico", "webhook": "https://pager.example/p?token=***"}],
            }
        ],
    }


SITE = """\
sites:
  - id: BSL
    timezone: {zone}
    oncall:
      escalate_after_min: 5
      shifts:
        - {shift}
"""
ANA = "{name: Ana, email: ana@cmo.example}"


@pytest.mark.parametrize(
    ("shift", "message"),
    [
        (
            f'{{from: "2026-12-07T18:00:00Z", to: "2026-12-07T08:00:00Z", chain: [{ANA}]}}',
            "line 7: sites.0.oncall.shifts.0: Value error, to 2026-12-07T08:00:00+00:00 is not "
            "after from",
        ),
        (
            f"{{weekdays: [mon], from: 08:00, to: 18:00, chain: [{ANA}]}}",
            'line 7: sites.0.oncall.shifts.0.to: Value error, a time of day must be quoted, like "18:00"',
        ),
        (
            f'{{weekdays: [monday], from: "08:00", to: "18:00", chain: [{ANA}]}}',
            "line 7: sites.0.oncall.shifts.0: Value error, weekdays: expected some of mon, tue",
        ),
        (
            f'{{from: "08:00", to: "18:00", chain: [{ANA}]}}',
            'line 7: sites.0.oncall.shifts.0: Value error, "HH:MM" needs weekdays',
        ),
        (
            f"{{from: 2026-12-07, to: 2026-12-08, chain: [{ANA}]}}",
            "line 7: sites.0.oncall.shifts.0.from: Value error, a shift needs a time, not a date",
        ),
        (
            '{from: "2026-12-07T08:00:00Z", to: "2026-12-07T18:00:00Z", chain: []}',
            "line 7: sites.0.oncall.shifts.0.chain: List should have at least 1 item",
        ),
        (
            '{from: "2026-12-07T08:00:00Z", to: "2026-12-07T18:00:00Z", '
            "chain: [{name: Ana, email: ana@cmo.example, webhook: 'https://p.example/a'}]}",
            "line 7: sites.0.oncall.shifts.0.chain.0: Value error, Ana: give exactly one of "
            "email or webhook",
        ),
        (
            '{from: "2026-12-07T08:00:00Z", to: "2026-12-07T18:00:00Z", chain: [{name: Ana}]}',
            "line 7: sites.0.oncall.shifts.0.chain.0: Value error, Ana: give exactly one of "
            "email or webhook",
        ),
    ],
)
def test_a_shift_that_means_no_rota_names_its_line_and_field(
    tmp_path: Path, shift: str, message: str
) -> None:
    path = tmp_path / "fleet.yaml"
    path.write_text(SITE.format(zone="UTC", shift=shift))
    with pytest.raises(ConfigError) as caught:
        load_fleet(path)
    assert f"{path}: {message}" in str(caught.value)


def test_a_weekly_shift_needs_the_sites_zone_to_exist(tmp_path: Path) -> None:
    path = tmp_path / "fleet.yaml"
    shift = f'{{weekdays: [mon], from: "08:00", to: "18:00", chain: [{ANA}]}}'
    path.write_text(SITE.format(zone="Mars/Olympus", shift=shift))
    with pytest.raises(ConfigError) as caught:
        load_fleet(path)
    assert f"{path}: line 3: sites.0.timezone: unknown time zone 'Mars/Olympus' for the rota" in (
        str(caught.value)
    )


def test_a_rota_without_escalate_after_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "fleet.yaml"
    path.write_text("sites: [{id: BSL, oncall: {shifts: []}}]\n")
    with pytest.raises(ConfigError) as caught:
        load_fleet(path)
    assert "sites.0.oncall.escalate_after_min: Field required" in str(caught.value)
