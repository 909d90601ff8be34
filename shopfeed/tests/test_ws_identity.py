"""The WebSocket identity summaries in Redis (shopfeed/ws_identity.py), in process against the
real Redis: a user seen recently costs no query, and a change wins over a lookup in flight.
The end-to-end revocations over a real server are in live/tests/test_ws_identity.py."""

import pytest
from asgiref.sync import async_to_sync
from django.test import Client

from shopfeed import ws_identity
from shopfeed.accounts.tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def browser_key(redis_url):
    user = UserFactory(handle="bea", display_name="Bea")
    browser = Client()
    browser.force_login(user)
    return user, browser.cookies["sessionid"].value


def test_a_session_seen_once_is_resolved_again_without_a_query(
    browser_key, django_assert_num_queries
):
    user, key = browser_key
    first = async_to_sync(ws_identity.user_for)("s", key)

    with django_assert_num_queries(0):
        again = async_to_sync(ws_identity.user_for)("s", key)
        assert (again.pk, again.handle, again.name, again.is_staff) == (
            user.pk,
            "bea",
            "Bea",
            False,
        )

    assert first.pk == user.pk


def test_other_fields_of_a_summary_user_load_when_read(browser_key, django_assert_num_queries):
    user, key = browser_key
    async_to_sync(ws_identity.user_for)("s", key)
    again = async_to_sync(ws_identity.user_for)("s", key)

    with django_assert_num_queries(1):
        assert again.email == user.email


def test_a_lookup_that_read_the_user_before_a_change_cannot_store_the_old_summary(browser_key):
    user, key = browser_key
    seen_generation = ws_identity._generation(user.pk)  # the lookup has read the old row...
    ws_identity.forget_user(user.pk)  # ...a change commits and voids the user's summaries...
    client = ws_identity._redis_cache()._cache.get_client(write=True)
    user_set, user_gen = ws_identity._user_keys(user.pk)
    credential = ws_identity.credential_key("s", key)

    stored = client.eval(  # ...then the lookup tries to keep what it read
        ws_identity._STORE, 3, credential, user_set, user_gen, "[]", 60, seen_generation
    )

    assert stored == 0
    assert client.get(credential) is None


def test_an_unknown_session_is_anonymous_and_remembered_briefly(redis_url):
    assert async_to_sync(ws_identity.user_for)("s", "no-such-session-key-0123456789") is None

    client = ws_identity._redis_cache()._cache.get_client(write=False)
    key = ws_identity.credential_key("s", "no-such-session-key-0123456789")
    assert client.get(key) == b""
    assert 0 < client.ttl(key) <= ws_identity.ANONYMOUS_SECONDS
