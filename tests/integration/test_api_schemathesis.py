"""schemathesis against the published OpenAPI document: generated requests (valid and
not), sent with a sponsor's token to a real server, never get a 5xx answer."""

from __future__ import annotations

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.api_world import World

pytestmark = pytest.mark.integration

# The stream never ends by itself; it is covered by test_api_live.py.
_SKIP = {("GET", "/v1/live/stream")}
_EXAMPLES = 12


# A generous login limit: generated logins must reach the handler, not the limiter.
API_SETTINGS = {
    "api_login_max_attempts_per_client": 100_000,
    "api_login_max_failures_per_user": 100_000,
}


@pytest.mark.parametrize("user", ["alice"])
def test_no_server_error_on_any_operation(world: World, user: str) -> None:
    spec = world.client.get("/v1/openapi.json").json()
    schema = schemathesis.openapi.from_dict(spec)
    headers = world.headers(user)
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    checked = 0
    for operation in operations:
        if (operation.method.upper(), operation.path) in _SKIP:
            continue
        checked += 1

        @settings(
            max_examples=_EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(), authed=st.booleans())
        def probe(case: schemathesis.Case, authed: bool) -> None:  # type: ignore[type-arg]
            # Sent with httpx: schemathesis' own requests transport trips over urllib3 2.8.
            kwargs = case.as_transport_kwargs(
                base_url=world.base_url, headers=headers if authed else {}
            )
            response = httpx.request(
                kwargs["method"],
                kwargs["url"],
                params=kwargs.get("params"),
                headers=kwargs.get("headers"),
                cookies=kwargs.get("cookies"),
                json=kwargs.get("json"),
                data=kwargs.get("data"),
                content=kwargs.get("content"),
                timeout=30,
            )
            if response.status_code >= 500:
                failures.append(
                    f"{case.method} {case.formatted_path} {case.query}: "
                    f"{response.status_code} {response.text[:200]}"
                )

        probe()
    assert checked >= 20
    assert not failures, "\n".join(failures[:10])
