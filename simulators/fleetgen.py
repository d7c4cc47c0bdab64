"""Generate large fleet files for benchmarks and detector scoring.

Usage:
    python -m simulators.fleetgen --units 200 --shipments 20 -o var/fleet-large.yaml

The fleet is a plain dict in the §10 shape (it validates with `coldchain.fleet.Fleet`),
deterministic for a seed: unit kinds, setpoints, lanes and scheduled faults are drawn
from it, and `simulation.random_faults` adds more when the simulation runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from coldchain.fleet import UnitKind

__all__ = ["generate_fleet", "main"]

_SETPOINTS = {
    UnitKind.REFRIGERATOR: 5.0,
    UnitKind.FREEZER: -20.0,
    UnitKind.ULTRA_LOW: -80.0,
    UnitKind.COLD_ROOM: 5.0,
    UnitKind.CRT: 20.0,
}
_KIND_WEIGHTS = {
    UnitKind.REFRIGERATOR: 0.45,
    UnitKind.FREEZER: 0.2,
    UnitKind.ULTRA_LOW: 0.1,
    UnitKind.COLD_ROOM: 0.1,
    UnitKind.CRT: 0.15,
}
_UNIT_FAULTS = [
    "compressor_failure",
    "power_outage",
    "door_left_open",
    "probe_disconnected",
    "stuck_sensor",
]
_ISO = "2026-01-01T00:00:00Z"


def _lane(rng: np.random.Generator) -> list[dict[str, Any]]:
    hot = float(rng.uniform(30.0, 45.0))
    return [
        {"name": "origin-dock", "duration": f"{int(rng.integers(1, 4))}h", "ambient_c": 20.0},
        {"name": "truck", "duration": f"{int(rng.integers(2, 8))}h", "ambient_c": 24.0},
        {"name": "tarmac", "duration": f"{int(rng.integers(30, 240))}m", "ambient_c": hot},
        {
            "name": "flight",
            "duration": f"{int(rng.integers(4, 14))}h",
            "ambient_c": 12.0,
            "connected": False,
        },
        {"name": "customs", "duration": f"{int(rng.integers(2, 24))}h", "ambient_c": 26.0},
        {"name": "delivery", "duration": f"{int(rng.integers(2, 6))}h", "ambient_c": 22.0},
    ]


def generate_fleet(
    *,
    units: int = 200,
    shipments: int = 20,
    sites: int | None = None,
    seed: int = 0,
    faults_per_unit: float = 0.2,
    random_faults_per_unit_per_day: float = 0.02,
    span_days: float = 7.0,
) -> dict[str, Any]:
    """A fleet file as a dict: `units` storage units over `sites` sites and `shipments`.

    Args:
        faults_per_unit: expected scheduled faults per unit within `span_days`.
    """
    rng = np.random.default_rng([seed, 0xF1EE7])
    site_count = sites or max(2, units // 20)
    site_ids = [f"S{i:02d}" for i in range(1, site_count + 1)]
    kinds = list(_KIND_WEIGHTS)
    weights = np.array(list(_KIND_WEIGHTS.values()))
    sponsor_ids = [f"SP{i:02d}" for i in range(1, max(2, units // 50) + 1)]
    site_docs: list[dict[str, Any]] = [{"id": s, "timezone": "UTC", "units": []} for s in site_ids]
    all_units: list[str] = []
    for n in range(units):
        kind = kinds[int(rng.choice(len(kinds), p=weights / weights.sum()))]
        site = site_docs[n % site_count]
        unit_id = f"{kind.value[:3].upper()}-{n:04d}"
        unit: dict[str, Any] = {
            "id": unit_id,
            "kind": kind.value,
            "setpoint_c": _SETPOINTS[kind],
            "log_interval_s": 60,
            "sensors": [{"id": "p1"}, {"id": "p2"}],
        }
        if rng.random() < faults_per_unit:
            unit["simulation"] = {
                "faults": [
                    {
                        "kind": _UNIT_FAULTS[int(rng.integers(len(_UNIT_FAULTS)))],
                        "at": f"{int(rng.integers(60, int(span_days * 1440)))}m",
                        "duration": f"{int(rng.integers(20, 480))}m",
                    }
                ]
            }
        site["units"].append(unit)
        all_units.append(f"{site['id']}/{unit_id}")
    products = [
        {
            "id": f"PRD-{i:03d}",
            "sponsor": sponsor_ids[i % len(sponsor_ids)],
            "storage": {"min_c": 2.0, "max_c": 8.0, "alarm_delay_min": 30},
        }
        for i in range(len(sponsor_ids) * 2)
    ]
    batches = [
        {"id": f"LOT-{i:05d}", "product": products[i % len(products)]["id"]}
        for i in range(units + shipments)
    ]
    placements: list[dict[str, Any]] = [
        {"batch": batches[i]["id"], "unit": all_units[i], "from": _ISO} for i in range(units)
    ]
    shipment_docs = []
    for n in range(shipments):
        origin, destination = rng.choice(len(site_ids), 2, replace=site_count < 2)
        shipment_id = f"SHP-{n:04d}"
        shipment_docs.append(
            {
                "id": shipment_id,
                "origin": site_ids[int(origin)],
                "destination": site_ids[int(destination)],
                "loggers": [
                    {"id": f"LOG-{n:04d}", "sensors": [{"id": "p1"}], "log_interval_s": 300}
                ],
                "simulation": {
                    "depart": f"{int(rng.integers(0, max(1, int(span_days * 24) - 48)))}h",
                    "lane": _lane(rng),
                    "shipper": {
                        "kind": "active" if rng.random() < 0.3 else "passive",
                        "pcm_latent_kj": float(rng.uniform(600.0, 1800.0)),
                    },
                    "gaps_per_day": 0.5,
                    "gap_duration": "2h",
                },
            }
        )
        placements.append(
            {"batch": batches[units + n]["id"], "shipment": shipment_id, "from": _ISO}
        )
    users: list[dict[str, Any]] = [
        {"id": f"viewer-{s.lower()}", "role": "sponsor_viewer", "sponsor": s} for s in sponsor_ids
    ]
    users += [
        {"id": "qa-1", "role": "qa"},
        {"id": "admin", "role": "admin"},
        {"id": "operator-1", "role": "warehouse_operator", "sites": site_ids},
    ]
    return {
        "sponsors": [{"id": s, "name": f"Sponsor {s}"} for s in sponsor_ids],
        "users": users,
        "sites": site_docs,
        "products": products,
        "batches": batches,
        "shipments": shipment_docs,
        "placements": placements,
        "simulation": {
            "seed": seed,
            "random_faults": {"per_unit_per_day": random_faults_per_unit_per_day},
        },
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--units", type=int, default=200)
    parser.add_argument("--shipments", type=int, default=20)
    parser.add_argument("--sites", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-o", "--out", type=Path, required=True)
    args = parser.parse_args(argv)
    fleet = generate_fleet(
        units=args.units, shipments=args.shipments, sites=args.sites, seed=args.seed
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(yaml.safe_dump(fleet, sort_keys=False), encoding="utf-8")


if __name__ == "__main__":
    main()
