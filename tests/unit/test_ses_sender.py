"""SES sending: through the stage's configuration set (bounce/complaint suppression), as the configured sender."""

from __future__ import annotations

from typing import Any


def test_emails_are_sent_through_the_stages_configuration_set() -> None:
    from audiens.dal.aws import SesEmailSender

    calls: list[dict[str, Any]] = []

    class Ses:
        def send_email(self, **params: Any) -> dict[str, str]:
            calls.append(params)
            return {"MessageId": "m-1"}

    sender = SesEmailSender("us-east-1", "audiens-prod")
    sender.__dict__["_client"] = Ses()  # the cached boto3 client, replaced
    assert sender.send(sender="no-reply@audiens.example", to="a@b.example", subject="s", body="b") == "m-1"
    assert calls[0]["ConfigurationSetName"] == "audiens-prod" and calls[0]["Source"] == "no-reply@audiens.example"
