"""Routes: accounts, activation, operator-created accounts, ``/v1/me`` and API keys."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayRouter
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from audiens.api.http import (
    PAGE_MAX,
    Cursor,
    Limit,
    api_stage,
    json_response,
    paginate,
    principal,
    request_time,
    require_role,
    roles,
)
from audiens.api.response_fields import Instant, OptionalInstant, OptionalText, attributes_of
from audiens.domain.accounts import OPERATOR, Account, ApiKey
from audiens.wiring import accounts_service

router = APIGatewayRouter()

Role = Literal["provider", "buyer"]
CompanyName = Annotated[str, Field(min_length=1, max_length=200, pattern=r"\S")]
Email = Annotated[str, Field(min_length=3, max_length=254)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SignUpRequest(Strict):
    company_name: CompanyName
    email: Email
    roles: Annotated[list[Role], Field(min_length=1, max_length=2)]


class SignUpResponse(BaseModel):
    account_id: str
    status: str


class ActivateRequest(Strict):
    token: Annotated[str, Field(min_length=1, max_length=200)]


class KeyResponse(BaseModel):
    account_id: str
    api_key: str


class AdminAccountRequest(SignUpRequest):
    revenue_share: Annotated[str | None, Field(default=None, max_length=10, examples=["0.80"])] = None


class AdminAccountResponse(BaseModel):
    account_id: str
    api_key: str
    status: str
    roles: list[str]
    revenue_share: OptionalText

    @classmethod
    def of(cls, account: Account, api_key: str) -> Self:
        return cls.model_validate({**attributes_of(account, cls), "api_key": api_key})


class MeResponse(BaseModel):
    account_id: str
    company_name: str
    email: str
    roles: list[str]
    status: str
    revenue_share: OptionalText = None
    created_at: OptionalInstant = None
    usage_reminders: bool = Field(
        default=True, description="Whether the account gets the usage reminders of the 1st and the 4th"
    )

    @classmethod
    def of(cls, account: Account) -> Self:
        return cls.model_validate(account, from_attributes=True)

    @classmethod
    def operator(cls) -> Self:
        """The platform's operator: an account of its own, not stored (no revenue share, no creation time)."""
        return cls(account_id=OPERATOR, company_name="Audiens operator", email="", roles=[OPERATOR], status="active")


class MeUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    usage_reminders: StrictBool = Field(
        description="false: no more usage reminders (invoice and payout emails still come)"
    )


class ApiKeyView(BaseModel):
    key_id: str
    name: str
    prefix: str
    status: Literal["active", "revoked"]
    created_at: Instant
    revoked_at: OptionalInstant

    @classmethod
    def of(cls, key: ApiKey, **extra: Any) -> Self:
        status = "revoked" if key.revoked_at else "active"
        return cls.model_validate({**attributes_of(key, cls), "status": status, **extra})


class ApiKeyList(BaseModel):
    api_keys: list[ApiKeyView]
    next_cursor: str | None = None


class CreateKeyRequest(Strict):
    name: Annotated[str, Field(min_length=1, max_length=100)] = "api key"


class CreatedKey(ApiKeyView):
    api_key: str


@router.post("/v1/accounts", tags=["accounts"], summary="Sign up (sends an activation email)", status_code=201)
def sign_up(body: SignUpRequest) -> Response[SignUpResponse]:
    account = accounts_service().sign_up(
        company_name=body.company_name, email=body.email, roles=list(body.roles), now=request_time()
    )
    return json_response(201, SignUpResponse.model_validate(account, from_attributes=True))


@router.post(
    "/v1/accounts/activate", tags=["accounts"], summary="Activate with the emailed token; returns the first API key"
)
def activate(body: ActivateRequest) -> Response[KeyResponse]:
    account, secret = accounts_service().activate(token=body.token, now=request_time())
    return json_response(200, {"account_id": account.account_id, "api_key": secret})


@router.post(
    "/v1/admin/accounts",
    tags=["admin"],
    summary="Operator: create an active account",
    openapi_extensions=roles(OPERATOR),
    status_code=201,
)
def admin_create_account(body: AdminAccountRequest) -> Response[AdminAccountResponse]:
    require_role(OPERATOR)
    account, secret = accounts_service().create_active_account(
        company_name=body.company_name,
        email=body.email,
        roles=list(body.roles),
        revenue_share=body.revenue_share,
        now=request_time(),
    )
    return json_response(201, AdminAccountResponse.of(account, secret))


@router.get(
    "/v1/me", tags=["accounts"], summary="The calling account", openapi_extensions=roles("provider", "buyer", OPERATOR)
)
def me() -> Response[MeResponse]:
    caller = principal()
    if caller.account_id == OPERATOR:
        found = MeResponse.operator()
    else:
        found = MeResponse.of(accounts_service().get_account(caller.account_id))
    return json_response(200, found)


@router.patch(
    "/v1/me",
    tags=["accounts"],
    summary="Change the calling account's settings (usage reminders on or off)",
    openapi_extensions=roles("provider", "buyer"),
)
def update_me(body: MeUpdate) -> Response[MeResponse]:
    caller = require_role("provider", "buyer")
    account = accounts_service().set_usage_reminders(caller.account_id, body.usage_reminders)
    return json_response(200, MeResponse.of(account))


@router.get(
    "/v1/api-keys",
    tags=["accounts"],
    summary="List the account's API keys (never the secrets)",
    openapi_extensions=roles("provider", "buyer"),
)
def list_keys(limit: Limit = PAGE_MAX, cursor: Cursor = None) -> Response[ApiKeyList]:
    caller = require_role("provider", "buyer")
    keys, next_cursor = paginate(accounts_service().list_keys(caller), lambda k: k.key_id, limit, cursor)
    return json_response(200, ApiKeyList(api_keys=[ApiKeyView.of(k) for k in keys], next_cursor=next_cursor))


@router.post(
    "/v1/api-keys",
    tags=["accounts"],
    summary="Create an API key (shown once)",
    openapi_extensions=roles("provider", "buyer"),
    status_code=201,
)
def create_key(body: CreateKeyRequest) -> Response[CreatedKey]:
    caller = require_role("provider", "buyer")
    issued = accounts_service().create_key(caller, name=body.name, now=request_time())
    return json_response(201, CreatedKey.of(issued.key, api_key=issued.secret))


@router.delete(
    "/v1/api-keys/<key_id>",
    tags=["accounts"],
    summary="Revoke an API key (takes effect at once)",
    openapi_extensions=roles("provider", "buyer"),
)
def revoke_key(key_id: str) -> Response[ApiKeyView]:
    caller = require_role("provider", "buyer")
    api_id, stage = api_stage()
    key = accounts_service().revoke_key(caller, key_id=key_id, now=request_time(), api_id=api_id, stage=stage)
    return json_response(200, ApiKeyView.of(key))
