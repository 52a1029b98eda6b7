"""Tests for cpragate.openapi.paths."""

import pytest

from cpragate.errors import SpecError
from cpragate.openapi.paths import PathMatcher, template_parameters

M = PathMatcher(["/pets/{id}", "/pets/mine", "/pets/{id}/toys/{toy}", "/files/{name}.json", "/"])


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/pets/mine", ("/pets/mine", {})),
        ("/pets/42", ("/pets/{id}", {"id": "42"})),
        ("/pets/a%20b", ("/pets/{id}", {"id": "a b"})),
        ("/pets/1/toys/ball", ("/pets/{id}/toys/{toy}", {"id": "1", "toy": "ball"})),
        ("/files/report.json", ("/files/{name}.json", {"name": "report"})),
        ("/", ("/", {})),
        ("/pets/", None),
        ("/pets/1/2", None),
        ("/other", None),
    ],
)
def test_match(path, expected):
    assert M.match(path) == expected


def test_template_parameters():
    assert template_parameters("/a/{x}/b/{y}") == ["x", "y"]


def test_duplicate_parameter_names():
    with pytest.raises(SpecError, match="twice"):
        PathMatcher(["/a/{x}/{x}"])
