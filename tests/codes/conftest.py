"""Sample codes shared by the codes tests: the published examples and one of every format."""

from __future__ import annotations

import pytest

TOKEN = "q1W2e3R4t5Y6u7I8o9P0-_"

# docs/codes.md's published examples: these must parse exactly and round-trip through the encoder.
PUBLISHED_CODES = [
    'scloc:providerId| { "sipaccounts" : [ { "sipusername" : "user1" , "sippassword": '
    '"29de?8", "subdomain" : "pbx"} ] }',
    'scloc: { "sipaccounts" : [ { "sipusername" : "user1" , "sippassword": "29de?8", '
    '"subdomain":"pbx" , "authusername": "629456", "transport" : "UDP", "srtp" : "Enabled" , '
    '"messaging" : "Enabled", "video" : "Enabled" , "callrecording" : "Enabled" } ] }',
    'scloc:?providerId=ABCTechnology&sipaccounts="[{"sipusername":"2006","sippassword":'
    '"12345678","subdomain":"sip.sessiontalk.co.uk","transport":"UDP"}, {"sipusername":"2011",'
    '"sippassword":"12345678","subdomain":"sip.sessiontalk.co.uk"}]"',
    "scsc:username:password:providerId",
]

# One code of every format, each carrying something awkward for its syntax.
EVERY_FORMAT_CODES = PUBLISHED_CODES + [
    'scloc:AcmeInc|{"sipaccounts":[{"sipusername":"1|2","sippassword":"a:b|c"}],'
    '"xmppaccounts":[{"jid":"a@b","password":"x","domain":"b","usetls":false}]}',
    'scloc:{"sipaccounts":[{"sipusername":"ünï","sippassword":"€ \\"q\\" \\\\"}]}',
    'scloc:?providerId=AcmeInc&sipaccounts="[{"sipusername":"a&b","sippassword":"+%26\\""}]"',
    "scsc:1000:1234",
    "scsc:äccount@example.com:p@ss|w&rd?:AcmeInc",
    "scsc:?username=1000:AcmeInc&password=12%2634",
    "scsc:?username=1000@pbx.example.com:AcmeInc%26password=a1B2c3",
    "scsc:?username=1000:%26password=1234",
    "scsc:1000:1234:",
    f"scloc:?v=2&token={TOKEN}",
]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # Fixtures named after the lists give every test the same cases, each with a readable id.
    if "published_code" in metafunc.fixturenames:
        metafunc.parametrize("published_code", PUBLISHED_CODES)
    if "any_code" in metafunc.fixturenames:
        metafunc.parametrize("any_code", EVERY_FORMAT_CODES)
