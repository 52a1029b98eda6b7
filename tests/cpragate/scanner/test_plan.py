from __future__ import annotations

from cpragate.openapi import load_spec
from cpragate.scanner.plan import plan
from cpragate.testing.vulnapi import SPEC_PATH


def test_plan_lists_what_would_be_exercised_and_what_is_never_sent() -> None:
    text = plan(load_spec(SPEC_PATH), identities=2)
    assert "GET /api/v1/notes/{note_id}" in text and "POST /api/v1/link-preview body.url" in text
    assert "GET /api/v1/admin/users" in text and "logins          : /api/v1/auth/login" in text
    assert "never sent      : PUT /api/v1/notes/{note_id}, DELETE /api/v1/notes/{note_id}" in text
    unsafe = plan(load_spec(SPEC_PATH), unsafe_methods=True, identities=1)
    assert "BOLA writes     : PUT /api/v1/notes/{note_id}, DELETE /api/v1/notes/{note_id}" in unsafe
    assert "(needs two identities)" in unsafe and "never sent      : (none)" in unsafe
