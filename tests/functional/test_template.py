"""The template is the single source of truth: lint it, translate it, and check the code against it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from pynamodb.indexes import GlobalSecondaryIndex

from tests.support.lambda_api import load_handler
from tests.support.template import ROOT, TEMPLATE, functions, resources, translated


def test_cfn_lint_passes() -> None:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), str(TEMPLATE)],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_sam_translator_translates_offline() -> None:
    out = translated()
    types = {r["Type"] for r in out["Resources"].values()}
    assert {"AWS::Lambda::Function", "AWS::ApiGateway::RestApi", "AWS::Lambda::LayerVersion"} <= types
    assert "AWS::Scheduler::Schedule" in types
    assert "AWS::Lambda::EventSourceMapping" in types
    authorizers = [r for r in out["Resources"].values() if r["Type"] == "AWS::ApiGateway::RestApi"]
    assert "securitySchemes" in json.dumps(authorizers)  # OpenAPI 3 (Globals.Api.OpenApiVersion)


@pytest.mark.parametrize("logical_id", sorted(functions()))
def test_every_template_handler_imports(logical_id: str) -> None:
    handler = load_handler(logical_id)
    assert callable(handler)


def test_every_sqs_event_source_reports_partial_failures_and_every_queue_has_a_dlq() -> None:
    for fn in functions().values():
        for ev in (fn["Properties"].get("Events") or {}).values():
            if ev["Type"] == "SQS":
                assert ev["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    queues = resources("AWS::SQS::Queue")
    dlqs = {q for q in queues if "DeadLetter" in q}
    for name, queue in queues.items():
        if name not in dlqs:
            target = queue["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
            assert target in dlqs


def test_every_function_has_its_own_log_group() -> None:
    for name, fn in functions().items():
        group = fn["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        assert resources()[group]["Type"] == "AWS::Logs::LogGroup", name


def _key_names(schema: list[dict[str, str]]) -> tuple[str, str | None]:
    hash_key = next(k["AttributeName"] for k in schema if k["KeyType"] == "HASH")
    range_key = next((k["AttributeName"] for k in schema if k["KeyType"] == "RANGE"), None)
    return hash_key, range_key


def test_every_model_matches_its_table_in_the_template() -> None:
    from audiens.dal.base import all_models

    tables = resources("AWS::DynamoDB::Table")
    checked = 0
    for model in all_models():
        logical = getattr(model.Meta, "logical_table", None) or model.Meta.table_name
        assert logical in tables, f"{model.__name__} names table {logical}, which the template lacks"
        props = tables[logical]["Properties"]
        types = {a["AttributeName"]: a["AttributeType"] for a in props["AttributeDefinitions"]}
        hash_key, range_key = _key_names(props["KeySchema"])
        attrs = model.get_attributes()
        assert model._hash_keyname == hash_key, model.__name__
        assert model._range_keyname == range_key, model.__name__
        for name in filter(None, (hash_key, range_key)):
            assert attrs[name].attr_type == types[name], (model.__name__, name)
        template_indexes = {i["IndexName"]: i for i in props.get("GlobalSecondaryIndexes", [])}
        for value in vars(model).values():
            if isinstance(value, GlobalSecondaryIndex):
                index = value.Meta.index_name
                assert index in template_indexes, (model.__name__, index)
                ih, ir = _key_names(template_indexes[index]["KeySchema"])
                keys = {a.attr_name: a for a in value.Meta.attributes.values()}
                assert keys[ih].is_hash_key and (ir is None or keys[ir].is_range_key)
                assert keys[ih].attr_type == types[ih]
        checked += 1
    assert checked >= 5


# Set by the Lambda runtime itself, never by the template.
RUNTIME_VARIABLES = {"AWS_REGION"}
# Read by Powertools, not by the application's settings.
LIBRARY_PREFIXES = ("POWERTOOLS_",)


@pytest.mark.parametrize("logical_id", sorted(functions()))
def test_every_functions_settings_are_exactly_what_its_template_entry_gives_it(logical_id: str) -> None:
    from audiens.config import settings_model
    from tests.support.lambda_api import Deployment

    model = settings_model(load_handler(logical_id).handler)
    assert model is not None, f"{logical_id}: its handler names no settings model (audiens.config.configured)"
    given = set(Deployment().environment(logical_id))  # the Globals' variables and the function's own
    fields = {str(field.alias) for field in model.model_fields.values()}
    required = {str(field.alias) for field in model.model_fields.values() if field.is_required()}
    # Every variable the function requires is one its template entry sets: a missing one fails here
    assert required - RUNTIME_VARIABLES <= given, f"{logical_id} lacks {sorted(required - RUNTIME_VARIABLES - given)}"
    # And every variable the template sets for it is one its settings read (no dead configuration)
    read_elsewhere = {name for name in given if name.startswith(LIBRARY_PREFIXES)}
    assert given - read_elsewhere <= fields, f"{model.__name__} ignores {sorted(given - read_elsewhere - fields)}"


def test_a_variable_missing_from_a_functions_template_entry_fails_its_invocation_with_the_name() -> None:
    import copy

    from audiens.config import ConfigurationError, EmailWorkerSettings, current
    from tests.support.lambda_api import Deployment, FakeContext, deployed, event, running_as
    from tests.support.template import load

    template = copy.deepcopy(load())
    del template["Resources"]["EmailWorkerFunction"]["Properties"]["Environment"]["Variables"]["ACCOUNTS_TABLE"]
    worker = load_handler("EmailWorkerFunction")
    # Given the template without the email worker's ACCOUNTS_TABLE (the other functions still have it)
    with deployed(Deployment(template=template)):
        assert "ACCOUNTS_TABLE" in Deployment(template=template).environment("ApiFunction")
        # When the worker is invoked, then it fails before doing anything (no AWS call), naming the variable
        with pytest.raises(ConfigurationError, match="EmailWorkerSettings: environment variable ACCOUNTS_TABLE"):
            worker(event("sqs_email.json"), FakeContext(function_name="email-worker"))
    # And with the template as it is, the worker's settings are complete
    with running_as("EmailWorkerFunction") as env:
        settings = current()
        assert isinstance(settings, EmailWorkerSettings)
        assert settings.accounts_table == env["ACCOUNTS_TABLE"]
