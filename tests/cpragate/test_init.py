import cpragate


def test_public_api_sorted_and_exported() -> None:
    assert cpragate.__all__ == sorted(cpragate.__all__)
    for name in cpragate.__all__:
        assert hasattr(cpragate, name)
