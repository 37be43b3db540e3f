"""The API function's resolver with every router included, and its Lambda entry point."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from audiens.api import accounts, contract, onboarding, segments
from audiens.api import billing as billing_routes
from audiens.api import billing_documents as billing_document_routes
from audiens.api import channels as channel_routes
from audiens.api import marketplace as marketplace_routes
from audiens.api import usage as usage_routes
from audiens.api.gate import admit
from audiens.api.http import app, error_response, normalize_event
from audiens.api.idempotency import idempotency_middleware, register_context
from audiens.observability import logger

app.use(middlewares=[idempotency_middleware])
app.include_router(accounts.router)
app.include_router(onboarding.router)
app.include_router(segments.router)
app.include_router(marketplace_routes.router)
app.include_router(channel_routes.router)
app.include_router(usage_routes.router)
app.include_router(billing_document_routes.router)
app.include_router(billing_routes.router)

TITLE = "Audiens API"
VERSION = "1.0.0"


def openapi_json() -> str:
    generated = app.get_openapi_json_schema(
        title=TITLE,
        version=VERSION,
        summary="Audience data marketplace: accounts, data onboarding, the marketplace, usage and billing.",
    )
    return json.dumps(contract.apply(json.loads(generated), app._static_routes + app._dynamic_routes))


@logger.inject_lambda_context(clear_state=True)
def handle(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    register_context(context)
    event, refusal = admit(normalize_event(event))
    if refusal is not None:
        refused = error_response(refusal)
        return {
            "statusCode": refused.status_code,
            "headers": {"Content-Type": "application/json"},
            "body": json.dumps(refused.body),
            "isBase64Encoded": False,
        }
    return app.resolve(event, context)
