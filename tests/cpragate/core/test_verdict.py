from cpragate.core.messages import Response
from cpragate.core.verdict import CONTINUE, Continue, Deny, Respond
from cpragate.errors import NotRouted


def test_verdict_values() -> None:
    assert isinstance(CONTINUE, Continue) and repr(CONTINUE) == "CONTINUE"
    assert Deny(NotRouted, rule="r") == Deny(NotRouted, rule="r")
    assert Respond(Response(204)).response.status == 204
