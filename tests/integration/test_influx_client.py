"""The InfluxDB client against a real influxd 1.x."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coldchain.errors import DatabaseNotFound, StoreRejected, StoreUnavailable
from coldchain.influx import InfluxClient, quote_identifier, quote_string
from coldchain.lineprotocol import encode_point
from tests.support.servers import InfluxServer, free_port

pytestmark = pytest.mark.integration


@pytest.fixture
async def influx(influxd: InfluxServer, influx_db: str) -> AsyncIterator[InfluxClient]:
    async with InfluxClient(influxd.url, influx_db) as client:
        await client.create_database()
        yield client
        await client.drop_database()


async def test_written_points_come_back_typed(influx: InfluxClient) -> None:
    await influx.write_lines(
        [
            "reading,device=U1,sensor=p1,site=BSL,source=unit temp_c=5,seq=1i 1763800000000",
            "reading,device=U1,sensor=p1,site=BSL,source=unit temp_c=5.5,seq=2i 1763800060000",
        ]
    )
    [series] = await influx.query('SELECT temp_c, seq FROM "reading" GROUP BY "sensor"')
    assert series.tags == {"sensor": "p1"}
    assert series.rows == [
        {"time": 1763800000000, "temp_c": 5.0, "seq": 1},
        {"time": 1763800060000, "temp_c": 5.5, "seq": 2},
    ]


async def test_create_database_is_idempotent(influx: InfluxClient) -> None:
    await influx.write_lines(["m,k=v f=1i 1763800000000"])
    await influx.create_database()  # the fixture created it already
    await influx.create_database()
    listed = [row[0] for s in await influx.query("SHOW DATABASES") for row in s.values]
    assert listed.count(influx.database) == 1
    kept = [s.values for s in await influx.query('SELECT f FROM "m"')]
    assert kept == [[[1763800000000, 1]]]  # what was in it is still there


async def test_a_refused_write_keeps_the_server_message(influx: InfluxClient) -> None:
    with pytest.raises(StoreRejected) as caught:
        await influx.write_lines(["reading temp_c= 1763800000000"])
    assert caught.value.status_code == 400
    assert "unable to parse" in caught.value.server_message


async def test_a_type_conflict_is_a_rejection_with_the_field_named(influx: InfluxClient) -> None:
    await influx.write_lines(['m,k=v f="text" 1763800000000'])
    with pytest.raises(StoreRejected) as caught:
        await influx.write_lines(["m,k=v f=1.5 1763800060000"])
    assert "field type conflict" in caught.value.server_message


async def test_a_bad_query_is_a_rejection(influx: InfluxClient) -> None:
    with pytest.raises(StoreRejected, match="error parsing query"):
        await influx.query("SELEKT nothing")


async def test_a_closed_port_is_unavailable_not_rejected() -> None:
    async with InfluxClient(f"http://127.0.0.1:{free_port()}", "db", timeout_s=1) as client:
        with pytest.raises(StoreUnavailable, match="ConnectError"):
            await client.write_lines(["m f=1 0"])
        assert not await client.ping()


async def test_writing_to_a_missing_database_is_retryable(influxd: InfluxServer) -> None:
    async with InfluxClient(influxd.url, "never_created") as client:
        with pytest.raises(DatabaseNotFound, match="database not found"):
            await client.write_lines(["m f=1 0"])


async def test_stream_query_yields_every_point(influx: InfluxClient) -> None:
    await influx.write_lines([f"m,k=v f={i}i {1763800000000 + i}" for i in range(25_000)])
    total = 0
    async for series in influx.stream_query('SELECT f FROM "m"'):
        total += len(series.values)
    assert total == 25_000


# Awkward names: every printable character InfluxDB 1.x can hold in a tag or key
# (not a trailing backslash or a line break, which the encoder refuses).
names = st.text(
    st.characters(codec="utf-8", exclude_categories=["Cc", "Cs", "Zl", "Zp"]),
    min_size=1,
    max_size=20,
).filter(lambda s: not s.endswith("\\"))
string_values = st.text(
    st.characters(codec="utf-8", exclude_categories=["Cs"], exclude_characters="\r\x00"),
    max_size=40,
).filter(lambda s: not s.endswith("\\"))


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    measurement=names.filter(lambda s: not s.startswith("#")),
    tag_key=names,
    tag_value=names,
    field_key=names,
    text=string_values,
    number=st.floats(allow_nan=False, allow_infinity=False),
    integer=st.integers(-(2**63), 2**63 - 1),
)
def test_awkward_names_and_values_round_trip_through_influxdb(
    influxd: InfluxServer,
    influx_db: str,
    measurement: str,
    tag_key: str,
    tag_value: str,
    field_key: str,
    text: str,
    number: float,
    integer: int,
) -> None:
    if tag_key in ("time", field_key) or field_key == "time":
        return
    line = encode_point(
        measurement,
        {tag_key: tag_value},
        {field_key: number, f"{field_key}_s": text, f"{field_key}_i": integer},
        1763800000000,
    )

    async def round_trip() -> list[dict[str, object]]:
        async with InfluxClient(influxd.url, influx_db) as client:
            await client.create_database()
            await client.write_lines([line])
            where = f"{quote_identifier(tag_key)} = {quote_string(tag_value)}"
            found = await client.query(
                f"SELECT * FROM {quote_identifier(measurement)} WHERE {where}"
            )
            await client.drop_database()
            return [row for series in found for row in series.rows]

    [row] = asyncio.run(round_trip())
    # InfluxDB's JSON writes a whole-valued float without a fraction; compare as floats.
    assert float(row.pop(field_key)) == number  # type: ignore[arg-type]
    assert row == {
        "time": 1763800000000,
        tag_key: tag_value,
        f"{field_key}_s": text,
        f"{field_key}_i": integer,
    }
