def test_package_imports() -> None:
    import cpragate.cli

    assert cpragate.cli is not None
