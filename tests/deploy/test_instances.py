"""Request checking, as the client and every server run it: each kind of mistake over several
inputs, with the exact words; good requests shaped exactly as the pipeline was trained."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mlcloud.deploy.errors import InputError
from mlcloud.deploy.instances import to_rows, to_table

NAMED = {"columns": "named", "features": [
    {"name": "elevation", "kind": "number", "default": 2950.0, "nullable": True},
    {"name": "slope", "kind": "number", "nullable": False},
    {"name": "area", "kind": "category", "categories": ["east", "north", "south"], "unknown": "ignore"},
    {"name": "grade", "kind": "category", "categories": [1, 2, 3], "unknown": "error"},
]}
ARRAY = {"columns": "positional", "features": [{"name": f"x{i}", "kind": "number"} for i in range(3)]}


def refused(instances, schema=NAMED, **kw) -> str:
    with pytest.raises(InputError) as e:
        to_rows(instances, schema, model="m/v1", **kw)
    return str(e.value)


def test_objects_any_key_order_and_lists_give_the_same_rows():
    a = {"elevation": 1.0, "slope": 2.0, "area": "north", "grade": 2}
    b = {"grade": 2, "area": "north", "slope": 2.0, "elevation": 1.0}
    assert to_rows([a, b, [1.0, 2.0, "north", 2]], NAMED) == [[1.0, 2.0, "north", 2]] * 3


def test_table_has_training_columns_in_order_and_nan_for_null():
    frame = to_table(to_rows([{"slope": 2.0, "area": None, "grade": 1, "elevation": None}], NAMED), NAMED)
    assert list(frame.columns) == ["elevation", "slope", "area", "grade"]
    assert math.isnan(frame.loc[0, "elevation"]) and frame["elevation"].dtype == np.float64
    assert frame["area"].dtype == object
    array = to_table(to_rows([[1, 2, 3]], ARRAY), ARRAY)
    assert isinstance(array, np.ndarray) and array.tolist() == [[1.0, 2.0, 3.0]]


@pytest.mark.parametrize("value,kind", [("3", "the string '3'"), (True, "the boolean True"),
                                        ([1], "a list [1]"), ({"v": 1}, "a dict {'v': 1}")])
def test_wrong_type_for_a_number(value, kind):
    row = {"elevation": value, "slope": 1.0, "area": "east", "grade": 1}
    msg = refused([row])
    if isinstance(value, (list, dict)):
        assert msg == f"instance 0, feature 'elevation': expected a single value, got {kind}"
    else:
        assert msg == f"instance 0, feature 'elevation': expected a number or null, got {kind}"


def test_null_where_the_pipeline_cannot_take_it():
    assert to_rows([[None, 1.0, "east", 1]], NAMED)[0][0] is None
    assert refused([[1.0, None, "east", 1]]) == (
        "instance 0, feature 'slope' is null, but m/v1 does not accept missing values there; add "
        "an imputer (e.g. SimpleImputer) to the pipeline, or send a value")


def test_categories():
    assert to_rows([[1.0, 1.0, "west", 1]], NAMED)[0][2] == "west"  # the encoder ignores unknowns
    assert refused([[1.0, 1.0, "east", 7]]) == (
        "instance 0, feature 'grade': 7 is not a category seen in training (1, 2, 3), and the "
        "encoder refuses unknown categories")
    assert refused([[1.0, 1.0, 5, 1]]) == (
        "instance 0, feature 'area': expected one of east, north, south, got the number 5")
    assert refused([[1.0, 1.0, "east", "2"]]) == (
        "instance 0, feature 'grade': expected one of 1, 2, 3, got the string '2'")
    assert to_rows([[1.0, 1.0, "east", 2.0]], NAMED)[0][3] == 2.0  # 2.0 == 2 for the encoder


def test_missing_unknown_and_misspelt_columns():
    full = {"elevation": 1.0, "slope": 2.0, "area": "east", "grade": 1}
    expected = "elevation, slope, area, grade"
    assert refused([full, {k: v for k, v in full.items() if k != "area"}]) == (
        f"instance 1 is missing column 'area' (expected: {expected})")
    assert refused([dict(full, aspect=4)]) == (
        f"instance 0 has unknown column 'aspect' (expected: {expected}); drop it, or pass "
        "--ignore-extra-columns")
    assert to_rows([dict(full, aspect=4)], NAMED, ignore_extra=True) == [[1.0, 2.0, "east", 1]]
    typo = {("slop" if k == "slope" else k): v for k, v in full.items()}
    assert refused([typo]) == (
        f"instance 0 has unknown column 'slop'; did you mean 'slope'? (expected: {expected})")


def test_case05_objects_for_a_model_trained_on_an_array():
    assert refused([{"field": 107.0, "source": 1.0, "target": 2.0}], ARRAY) == (
        "instance 0 is an object with keys [field, source, target], but m/v1 was trained without "
        "feature names and expects a list of 3 values, e.g. [0.0, 0.0, 0.0]; or pass "
        "--feature-order field,source,target to turn objects into rows")
    assert to_rows([{"field": 107.0, "source": 1.0, "target": 2.0}], ARRAY,
                   feature_order=["field", "source", "target"]) == [[107.0, 1.0, 2.0]]
    assert refused([[107.0, 1.0]], ARRAY) == (
        "instance 0 has 2 values, model expects 3 (in this order: x0, x1, x2)")


@pytest.mark.parametrize("body", [{"instances": []}, "text", 3, None])
def test_not_a_list_of_instances(body):
    if body == {"instances": []}:
        assert to_rows([], NAMED) == []
        return
    assert refused(body).startswith('the request must be {"instances": [...]}')


@pytest.mark.parametrize("inst,kind", [("row", "the string 'row'"), (7, "the number 7"),
                                       (None, "a NoneType None")])
def test_instance_of_the_wrong_shape(inst, kind):
    assert refused([inst]) == (
        f"instance 0 is {kind}; expected an object keyed by feature name or a list of 4 values "
        "(elevation, slope, area, grade)")


def test_non_finite_numbers_are_refused():
    assert refused([[float("nan"), 1.0, "east", 1]]) == (
        "instance 0, feature 'elevation': nan is not valid JSON; write null for a missing value")
