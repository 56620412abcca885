"""schemathesis hooks for `make fuzz` (loaded through SCHEMATHESIS_HOOKS).

An Idempotency-Key promises one answer per request: the same key with a
different body is refused with 422, by design (tested in
crates/app/tests/api/idempotency.rs). A fuzzer that draws keys at random
reuses one across different bodies and reads that 422 as "valid data
rejected". So a schema-valid key is replaced by a digest of the key and
the body: a key is then only ever repeated with its own body (a replay,
which must answer the same), and the runs stay repeatable for a seed.
Keys that break the header's pattern are left as drawn, so the
negative cases still reach the service.
"""

import hashlib
import json
import re

import schemathesis

HEADER = "Idempotency-Key"
VALID = re.compile(r"[!-~]{1,255}")


@schemathesis.hook
def map_case(ctx, case):
    headers = case.headers or {}
    key = headers.get(HEADER)
    if isinstance(key, str) and VALID.fullmatch(key):
        body = json.dumps(case.body, sort_keys=True, default=str)
        headers[HEADER] = hashlib.sha256(f"{key}\0{body}".encode()).hexdigest()
        case.headers = headers
    return case
