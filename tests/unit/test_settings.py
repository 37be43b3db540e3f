"""Per-function settings (audiens.config) and what the composition root (audiens.wiring) does with them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from audiens import wiring
from audiens.config import (
    ConfigurationError,
    EmailWorkerSettings,
    EventIngestSettings,
    InvoiceWorkerSettings,
    activated,
    configured,
    current,
    load,
)

EMAIL_WORKER = {
    "STAGE": "test",
    "AWS_REGION": "eu-west-1",
    "ACCOUNTS_TABLE": "accounts",
    "SENDER_EMAIL": "no-reply@example.com",
    "SES_CONFIGURATION_SET": "audiens-test",
}


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    def set_to(variables: dict[str, str]) -> None:
        for name in {*EMAIL_WORKER, "ONBOARDING_TABLE", "SOURCE_BUCKET", "BILLING_JOB_MAX_RECEIVES"}:
            monkeypatch.delenv(name, raising=False)
        for name, value in variables.items():
            monkeypatch.setenv(name, value)
        load.cache_clear()

    yield set_to
    load.cache_clear()


def test_a_functions_settings_are_its_variables_typed(environment: Any) -> None:
    environment(EMAIL_WORKER)
    settings = load(EmailWorkerSettings)
    assert (settings.accounts_table, settings.sender_email, settings.region) == (
        "accounts",
        "no-reply@example.com",
        "eu-west-1",
    )


def test_a_missing_variable_is_named(environment: Any) -> None:
    environment({k: v for k, v in EMAIL_WORKER.items() if k not in ("ACCOUNTS_TABLE", "SENDER_EMAIL")})
    with pytest.raises(ConfigurationError) as raised:
        load(EmailWorkerSettings)
    assert str(raised.value) == (
        "EmailWorkerSettings: environment variable ACCOUNTS_TABLE is not set; "
        "environment variable SENDER_EMAIL is not set for this function"
    )


def test_an_invalid_variable_is_named(environment: Any) -> None:
    environment({"STAGE": "test", "ONBOARDING_TABLE": "o", "SOURCE_BUCKET": "b", "SKETCH_WRITE_MODE": "sometimes"})
    with pytest.raises(ConfigurationError, match="environment variable SKETCH_WRITE_MODE is invalid"):
        load(EventIngestSettings)


def test_the_handler_validates_its_settings_before_it_runs_and_they_are_current_while_it_does(
    environment: Any,
) -> None:
    seen: list[object] = []

    @configured(EmailWorkerSettings)
    def handler(event: dict[str, Any], context: object) -> str:
        seen.append(current())
        return "done"

    environment({k: v for k, v in EMAIL_WORKER.items() if k != "SES_CONFIGURATION_SET"})
    with pytest.raises(ConfigurationError, match="SES_CONFIGURATION_SET"):
        handler({}, None)
    assert seen == []
    environment(EMAIL_WORKER)
    assert handler({}, None) == "done"
    assert seen == [load(EmailWorkerSettings)]
    with pytest.raises(ConfigurationError, match="not wrapped in configured"):
        current()  # outside an invocation there is no function


def test_a_service_the_functions_settings_do_not_provide_fails_naming_what_is_missing(environment: Any) -> None:
    environment(EMAIL_WORKER)
    with activated(load(EmailWorkerSettings)), pytest.raises(ConfigurationError) as raised:
        wiring.billing_jobs()
    assert (
        str(raised.value) == "billing_jobs needs BILLING_JOB_MAX_RECEIVES, which EmailWorkerSettings does not declare"
    )


def test_services_are_built_once_per_function_settings(environment: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[str] = []
    factory = wiring.Factory(InvoiceWorkerSettings, lambda settings: built.append(settings.stage) or len(built))
    monkeypatch.setattr(wiring, "bind", lambda settings: None)
    base = {
        "BILLING_TABLE": "b",
        "USAGE_TABLE": "u",
        "ACCOUNTS_TABLE": "a",
        "MARKETPLACE_TABLE": "m",
        "ONBOARDING_TABLE": "o",
        "PAYOUT_JOBS_QUEUE_URL": "q",
        "DOCUMENT_JOBS_QUEUE_URL": "d",
        "BILLING_CURRENCY": "USD",
        "BILLING_JOB_MAX_RECEIVES": "5",
    }
    for name in base:
        monkeypatch.delenv(name, raising=False)
    environment({**base, "STAGE": "one"})
    one = load(InvoiceWorkerSettings)
    environment({**base, "STAGE": "two"})
    two = load(InvoiceWorkerSettings)
    with activated(one):
        assert (factory(), factory()) == (1, 1)
        with activated(two):
            assert factory() == 2
        assert factory() == 1
    assert built == ["one", "two"]
