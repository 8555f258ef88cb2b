"""schemathesis against /api/v1/openapi.json, in process (WSGI), with a valid token: whatever it sends, the API
answers without a 500 and with responses the description promises. Bounded to run in well under a minute.

schemathesis' own pytest plugin (``from_fixture``) does not run under pytest 9, so each operation's strategy is
driven by Hypothesis directly; the checks are schemathesis' own (``call_and_validate``).
"""
import pytest
from hypothesis import HealthCheck, given, settings

schemathesis = pytest.importorskip("schemathesis")
EXAMPLES = 15


def test_api_conforms_to_its_description(app, auth, make_transcript):
    from webapp.extensions import db
    from webapp.models import User

    with app.app_context():
        admin_id = db.session.scalars(db.select(User.id).where(User.name == "admin")).one()
    make_transcript(admin_id)  # id 1 exists and is done, so generated ids sometimes find one
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 8

    failures = {}
    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def check(case):
            case.call_and_validate(headers=auth)

        try:
            check()
        except BaseException as exc:  # gather every operation's finding, not just the first
            failures[operation.label] = f"{type(exc).__name__}: {exc}"[:3000]
    assert not failures, "\n\n".join(f"{label}\n{text}" for label, text in failures.items())
