from cpragate.filters.authn.apikeys import DEFAULT_HASH_KEY, generate_key, hash_key, prefix_of


def test_generated_keys_are_unique_high_entropy_and_parse() -> None:
    keys = {generate_key()[0] for _ in range(200)}
    assert len(keys) == 200
    k, p = generate_key()
    assert k.startswith(p + "_") and len(k) == 4 + 8 + 1 + 43
    assert prefix_of(k.encode()) == p
    assert prefix_of(b"cpg_short_x") is None and prefix_of(k.encode() + b"x") is None


def test_hash_is_keyed_and_stable() -> None:
    k = b"cpg_aaaaaaaa_" + b"A" * 43
    assert hash_key(k) == hash_key(k, DEFAULT_HASH_KEY) != hash_key(k, b"pepper")
    assert len(hash_key(k)) == 64
