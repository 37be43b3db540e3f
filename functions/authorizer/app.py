"""AuthorizerFunction: API Gateway TOKEN authorizer. ``Bearer <api_key>`` → principal, roles, key id.

The policy covers the whole stage so API Gateway can cache it per key; revocation flushes that cache.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.data_classes import event_source
from aws_lambda_powertools.utilities.data_classes.api_gateway_authorizer_event import (
    APIGatewayAuthorizerResponse,
    APIGatewayAuthorizerTokenEvent,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from audiens.config import AuthorizerSettings, configured
from audiens.observability import logger
from audiens.wiring import accounts_service


@configured(AuthorizerSettings)
@logger.inject_lambda_context(clear_state=True)
@event_source(data_class=APIGatewayAuthorizerTokenEvent)
def lambda_handler(event: APIGatewayAuthorizerTokenEvent, context: LambdaContext) -> dict[str, Any]:
    token = event.authorization_token or ""
    scheme, _, secret = token.partition(" ")
    caller = accounts_service().authenticate(secret.strip()) if scheme.lower() == "bearer" and secret else None
    if caller is None:
        logger.info("rejected API key")
        raise Exception("Unauthorized")  # the exact message API Gateway maps to 401
    arn = event.parsed_arn
    policy = APIGatewayAuthorizerResponse(
        principal_id=caller.account_id,
        region=arn.region,
        aws_account_id=arn.aws_account_id,
        api_id=arn.api_id,
        stage=arn.stage,
        context={"account_id": caller.account_id, "roles": ",".join(caller.roles), "key_id": caller.key_id},
    )
    policy.allow_all_routes()
    return policy.asdict()
