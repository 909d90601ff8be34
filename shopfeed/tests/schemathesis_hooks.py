"""Loaded by the schemathesis CLI (SCHEMATHESIS_HOOKS) in test_api_schemathesis.py: how to
make request bodies of media types it does not know."""

import schemathesis
from hypothesis import strategies as st

# A tus chunk (PATCH /api/v1/feed/uploads/<id>/) is raw bytes.
schemathesis.openapi.media_type("application/offset+octet-stream", st.binary(max_size=4096))
