"""Schemathesis hooks for Överblick's hostile-client run (scripts/hostile-clients.sh,
tests/hostile_clients.rs).

- Strategies for the schema's own scalars, valid values and junk alike.
- `no_service_fault` replaces schemathesis' `not_a_server_error` for GraphQL, which counts every
  resolver error as a server failure. Överblick answers expected refusals (FORBIDDEN, NOT_FOUND,
  INVALID_ARGUMENT, ...) as errors with a stable `extensions.code`; a fault of the service is a 5xx,
  a body that is not JSON, an error without a code, or INTERNAL_ERROR.
"""

import schemathesis
from hypothesis import strategies as st
from schemathesis.graphql import nodes


def _strings(examples, max_size):
    return (st.sampled_from(examples) | st.text(max_size=max_size)).map(nodes.String)


schemathesis.graphql.scalar(
    "PersonId",
    _strings(["19121212-1212", "191212121212", "19121212+1212", "19121212-1213", "20200615-2397"], 24),
)
schemathesis.graphql.scalar(
    "HsaId", _strings(["SE2321000024-GOT001", "SE2321000024-0001", "SE2321000024-"], 40)
)
schemathesis.graphql.scalar(
    "Date", (st.dates().map(lambda d: d.isoformat()) | st.text(max_size=12)).map(nodes.String)
)
schemathesis.graphql.scalar(
    "DateTime",
    (st.datetimes().map(lambda d: d.isoformat() + "Z") | st.text(max_size=30)).map(nodes.String),
)
schemathesis.graphql.scalar(
    "DateOrDateTime",
    (
        st.dates().map(lambda d: d.isoformat())
        | st.datetimes().map(lambda d: d.isoformat() + "Z")
        | st.text(max_size=30)
    ).map(nodes.String),
)


@schemathesis.check
def no_service_fault(ctx, response, case):
    """A 5xx, a body that is not JSON, an error without `extensions.code`, or INTERNAL_ERROR."""
    if response.status_code >= 500:
        raise AssertionError(f"HTTP {response.status_code}: {response.text[:500]}")
    try:
        body = response.json()
    except Exception:
        raise AssertionError(f"HTTP {response.status_code} with a body that is not JSON: {response.text[:200]!r}")
    answers = body if isinstance(body, list) else [body]
    for answer in answers:
        for error in (answer.get("errors") or []) if isinstance(answer, dict) else []:
            code = (error.get("extensions") or {}).get("code")
            if not code:
                raise AssertionError(f"an error without extensions.code: {error.get('message')!r}")
            if code == "INTERNAL_ERROR":
                raise AssertionError(f"INTERNAL_ERROR: {error.get('message')!r}")
