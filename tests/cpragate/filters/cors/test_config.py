import pytest
from pydantic import ValidationError

from cpragate.filters.cors import CorsPolicy


def test_wildcard_with_credentials_refused() -> None:
    with pytest.raises(ValidationError, match="cannot be used with"):
        CorsPolicy(allow_origins=["*"], allow_credentials=True)


@pytest.mark.parametrize("origin", ["app.example.com", "https://a.com/path", "ftp://a"])
def test_origin_shape(origin: str) -> None:
    with pytest.raises(ValidationError):
        CorsPolicy(allow_origins=[origin])


def test_origins_lowercased() -> None:
    assert CorsPolicy(allow_origins=["https://App.Example.com"]).allow_origins == ["https://app.example.com"]
