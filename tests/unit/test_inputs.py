"""psflow.script.inputs: input names, the text form of values, and durations for people."""

from __future__ import annotations

import pytest

from psflow.durations import describe_duration
from psflow.script.inputs import InputError, check_name, env_var, parse_assignments, parse_json_object, parse_value


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("3", 3),
        ("-2.5", -2.5),
        ("true", True),
        ("false", False),
        ("null", None),
        ('"3"', "3"),
        ("[1, 2]", [1, 2]),
        ('{"a": 1}', {"a": 1}),
        ("yes", "yes"),
        ("", ""),
        ("alice smith", "alice smith"),
        ("3 apples", "3 apples"),
        ("NaN", "NaN"),
        ("Infinity", "Infinity"),
        ("1e999", "1e999"),
        ("[1, NaN]", "[1, NaN]"),
        ("True", "True"),  # Python spelling: text, not a bool
    ],
)
def test_values_are_json_when_they_parse_else_text(text, value):
    parsed = parse_value(text)
    assert parsed == value and type(parsed) is type(value)


def test_assignments_split_at_the_first_equals_sign():
    assert parse_assignments(["query=a=b", "approval=yes", "n=3"]) == {"query": "a=b", "approval": "yes", "n": 3}


@pytest.mark.parametrize(
    ("assignments", "message"),
    [
        (["approval"], "'approval' is not NAME=VALUE"),
        (["=yes"], "input name '' is not valid"),
        (["a b=1"], "input name 'a b' is not valid"),
        (["a=1", "a=2"], "input 'a' is given twice"),
    ],
)
def test_bad_assignments(assignments, message):
    with pytest.raises(InputError, match=message):
        parse_assignments(assignments)


@pytest.mark.parametrize(
    ("text", "message"),
    [("{", "not valid JSON"), ("[]", "not a list"), ("3", "not a int"), ('{"a/b": 1}', "'a/b' is not valid")],
)
def test_bad_json_objects(text, message):
    with pytest.raises(InputError, match=message):
        parse_json_object(text)


@pytest.mark.parametrize("name", ["approval", "a", "A-1", "step.2:ok", "x_y", "a" * 128])
def test_good_names(name):
    assert check_name(name) == name


@pytest.mark.parametrize("name", ["", "a b", "a/b", "é", "a\x00", "a" * 129, 3, None])
def test_bad_names(name):
    with pytest.raises(InputError, match="is not valid"):
        check_name(name)


def test_environment_variable_names():
    assert env_var("approval") == "PSFLOW_INPUT_APPROVAL"
    assert env_var("deploy-ok.v2:x") == "PSFLOW_INPUT_DEPLOY_OK_V2_X"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (1, "1s"),
        (0.5, "0.5s"),
        (59, "59s"),
        (60, "1m"),
        (90, "1m30s"),
        (3600, "1h"),
        (5400, "1h30m"),
        (86400, "1d"),
        (2 * 86400 + 3 * 3600 + 5, "2d3h"),
    ],
)
def test_durations_for_people(seconds, text):
    assert describe_duration(seconds) == text
