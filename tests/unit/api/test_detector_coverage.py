"""Partitions by site must together watch every catalog site: `/v1/metrics` names the
sites no reporting detector covers (an excursion there would go unnoticed)."""

from __future__ import annotations

from api.metrics import sites_without_detector

SITES = ["BSL", "LYS", "ZRH"]


def test_partitions_that_cover_every_site_leave_none_out() -> None:
    services = {"detector-a": {"sites": ["BSL"]}, "detector-b": {"sites": ["LYS", "ZRH"]}}
    assert sites_without_detector(SITES, services, set(services)) == []


def test_a_site_in_no_partition_is_named() -> None:
    services = {"detector-a": {"sites": ["BSL"]}, "detector-b": {"sites": ["LYS"]}}
    assert sites_without_detector(SITES, services, set(services)) == ["ZRH"]


def test_a_detector_for_every_site_covers_all() -> None:
    services: dict[str, dict[str, object]] = {"detector-all": {"sites": []}, "ingest-1": {}}
    assert sites_without_detector(SITES, services, set(services)) == []


def test_a_stale_partition_covers_nothing_and_no_detector_covers_nothing() -> None:
    services = {"detector-a": {"sites": ["BSL", "LYS"]}, "detector-b": {"sites": ["ZRH"]}}
    assert sites_without_detector(SITES, services, {"detector-a"}) == ["ZRH"]
    assert sites_without_detector(SITES, {"ingest-1": {}}, {"ingest-1"}) == SITES
