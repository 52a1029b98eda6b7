"""Path templating on real-world path shapes (GitHub, Stripe, S3-like, REST with e-mails and UUIDs)."""

from __future__ import annotations

import pytest

from cpragate.filters.inventory.templating import (
    PathTemplater,
    param_kind,
    same_shape,
    segment_kind,
    template_path,
)


@pytest.mark.parametrize(
    ("path", "template"),
    [
        ("/users/123", "/users/{id}"),
        ("/users/123/orders/456", "/users/{id}/orders/{id2}"),
        ("/v1/customers/42/orders", "/v1/customers/{id}/orders"),
        ("/api/v2/health", "/api/v2/health"),
        ("/", "/"),
        # UUIDs (any case), e-mails, dates
        ("/files/550e8400-e29b-41d4-a716-446655440000", "/files/{uuid}"),
        ("/files/550E8400-E29B-41D4-A716-446655440000/versions/3", "/files/{uuid}/versions/{id}"),
        ("/v1/users/alice.smith+tag@example.co.uk/profile", "/v1/users/{email}/profile"),
        ("/reports/2026-01-31/summary", "/reports/{date}/summary"),
        # hashes: git SHA-1, MD5, SHA-256, Mongo ObjectId
        ("/repos/octo/hello/commits/7fd1a60b01f91b314f59955a4e4d4e80d8edf11d", "/repos/octo/hello/commits/{hash}"),
        ("/blobs/d41d8cd98f00b204e9800998ecf8427e", "/blobs/{hash}"),
        ("/docs/507f1f77bcf86cd799439011", "/docs/{hash}"),
        ("/sha/e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "/sha/{hash}"),
        # prefixed ids (Stripe, Shopify-like), ULIDs and opaque tokens
        ("/v1/customers/cus_9fK2xLmQ/charges/ch_3MtwBwLkdIwHu7ix28a3tqPa", "/v1/customers/{id}/charges/{id2}"),
        ("/orders/ord-10023", "/orders/{id}"),
        ("/events/01ARZ3NDEKTSV4RRFFQ69G5FAV", "/events/{token}"),
        ("/reset/bXlzZWNyZXR0b2tlbmZvcnVzZXI9MTIz", "/reset/{token}"),
        ("/phones/+14155550100", "/phones/{id}"),
        ("/items/-5", "/items/{id}"),
        # words stay literal, including ones with digits that are not ids
        ("/users/me", "/users/me"),
        ("/static/app.js", "/static/app.js"),
        ("/oauth2/v1/authorize", "/oauth2/v1/authorize"),
        ("/i18n/en-US/messages", "/i18n/en-US/messages"),
        ("/deadbeef", "/deadbeef"),  # short hex is a word
        # anything very long is never kept verbatim
        ("/x/" + "a" * 80, "/x/{param}"),
        # personal numbers with separators, or many digits among letters, never stay literal
        ("/v1/nothing/536-22-1847", "/v1/nothing/{id}"),
        ("/cards/4111 1111 1111 1111", "/cards/{id}"),
        ("/phones/415.555.0100", "/phones/{id}"),
        ("/lookup/ssn536221847", "/lookup/{param}"),
    ],
)
def test_template_path(path: str, template: str) -> None:
    assert template_path(path) == template


def test_segment_kinds_and_param_kind() -> None:
    assert segment_kind("123") == "id" and segment_kind("abc") is None
    assert param_kind("id2") == "id" and param_kind("uuid") == "uuid" and param_kind("customerId") == "param"


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("/v1/customers/{id}", "/v1/customers/{customer_id}", True),
        ("/v1/customers/{id}", "/v1/customers/me", False),
        ("/v1/customers/{id}/orders", "/v1/customers/{id}", False),
        ("/static/a/b.js", "/static/**", True),
        ("/other/a", "/static/**", False),
    ],
)
def test_same_shape(a: str, b: str, same: bool) -> None:
    assert same_shape(a, b) is same


def test_literal_cap_per_position_keeps_names_out() -> None:
    t = PathTemplater(max_literals=3)
    got = [t.template("GET", f"/files/{name}/raw") for name in ("alice", "bob", "carol", "dave", "erin", "bob")]
    assert got[:3] == ["/files/alice/raw", "/files/bob/raw", "/files/carol/raw"]
    assert got[3] == got[4] == "/files/{param}/raw"
    assert got[5] == "/files/bob/raw"  # already known
    # another method is another position
    assert t.template("DELETE", "/files/dave/raw") == "/files/dave/raw"


def test_prefix_of_a_wildcard_route_is_kept() -> None:
    t = PathTemplater()
    assert t.template("GET", "/assets/v3/img/123.png", "/assets/") == "/assets/v3/img/123.png"
    assert t.template("GET", "/assets/users/42/avatar", "/assets/") == "/assets/users/{id}/avatar"
    assert t.template("GET", "/api/{id}/x/9", "/api/{id}/") == "/api/{id}/x/{id2}"
    assert t.template("GET", "/assets/", "/assets/") == "/assets/"


def test_positions_are_bounded() -> None:
    t = PathTemplater(max_literals=100, max_positions=2)
    t.template("GET", "/a/b")
    t.template("GET", "/c/d")
    assert t.template("GET", "/e/f") == "/e/{param}"  # the root position exists; "GET /e" would be a third
