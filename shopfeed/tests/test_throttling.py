"""Abuse limits over HTTP: API throttles, the login rate and the per-account/IP lockout.

Every refusal is a 429 with Retry-After. Rates come from settings, so each test sets the low
rate it needs; the root conftest forgets all counts between tests.
"""

import re
import time
from datetime import timedelta

import pytest
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from shopfeed.accounts.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

API = "/api/v1"
PASSWORD = "pw-Secret-123"


@pytest.fixture
def rates(settings):
    def set_rates(**rates):
        current = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
        settings.REST_FRAMEWORK = {
            **settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": {**current, **rates},
        }

    return set_rates


@pytest.fixture
def member(db):
    user = UserFactory(username="member", handle="member")
    user.set_password(PASSWORD)
    user.save()
    return user


def without_csrf_token(html: bytes) -> bytes:
    # Each client gets its own CSRF token; everything else must read the same.
    return re.sub(rb'("X-CSRFToken": "|name="csrfmiddlewaretoken" value=")[^"]*', rb"\1", html)


def assert_refused(response):
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0


def login_form(client, username, password):
    return client.post("/accounts/login/", {"username": username, "password": password})


def token_request(client, username, password):
    return client.post(f"{API}/auth/token/", {"username": username, "password": password})


# --- API throttles -----------------------------------------------------------------------


def test_anonymous_reads_past_the_rate_are_refused_with_retry_after(rates):
    rates(anon="5/min")
    client = APIClient()

    served = [client.get(f"{API}/products/").status_code for _ in range(5)]
    refused = client.get(f"{API}/products/")

    assert served == [200] * 5
    assert_refused(refused)
    assert refused.json()["detail"]


def test_a_signed_in_user_is_throttled_at_the_user_rate(rates, member):
    rates(anon="1000/min", user="3/min")
    client = APIClient()
    client.force_authenticate(member)

    served = [client.get(f"{API}/products/").status_code for _ in range(3)]

    assert served == [200] * 3
    assert_refused(client.get(f"{API}/products/"))


def test_a_spoofed_forwarded_for_header_does_not_reset_the_count(rates):
    rates(anon="2/min")
    client = APIClient()
    for n in range(2):
        client.get(f"{API}/products/", HTTP_X_FORWARDED_FOR=f"10.0.0.{n}")

    assert_refused(client.get(f"{API}/products/", HTTP_X_FORWARDED_FOR="10.0.0.99"))


def test_the_token_endpoint_refuses_guessing_past_the_login_rate(rates, member):
    rates(login="5/min")
    client = APIClient()
    for n in range(5):
        assert token_request(client, f"someone{n}", "wrong").status_code == 400

    refused = token_request(client, "member", PASSWORD)

    assert_refused(refused)
    assert not Token.objects.exists()


def test_the_login_form_refuses_posts_past_the_login_rate(rates, member):
    rates(login="3/min")
    client = Client()
    for n in range(3):
        assert login_form(client, f"someone{n}", "wrong").status_code == 200

    refused = login_form(client, "member", PASSWORD)

    assert_refused(refused)
    assert "_auth_user_id" not in client.session


def test_the_login_page_itself_is_not_counted(rates):
    rates(login="2/min")
    client = Client()

    assert [client.get("/accounts/login/").status_code for _ in range(5)] == [200] * 5


# --- lockout per account and per IP ------------------------------------------------------


@pytest.fixture
def lockout(settings):
    settings.AXES_FAILURE_LIMIT = 3
    return settings


def test_an_account_is_locked_after_repeated_wrong_passwords(lockout, member):
    client = Client()
    for _ in range(2):
        assert login_form(client, "member", "wrong").status_code == 200

    third = login_form(client, "member", "wrong")
    right_password_too = login_form(Client(REMOTE_ADDR="192.0.2.7"), "member", PASSWORD)

    assert_refused(third)
    assert_refused(right_password_too)
    assert "_auth_user_id" not in client.session


def test_an_address_guessing_many_accounts_is_locked(lockout, member):
    client = Client()
    for n in range(3):
        login_form(client, f"nobody{n}", "wrong")

    assert_refused(login_form(client, "member", PASSWORD))
    # Another address is not affected.
    assert login_form(Client(REMOTE_ADDR="192.0.2.8"), "member", PASSWORD).status_code == 302


def test_the_lockout_does_not_tell_whether_the_account_exists(lockout, member):
    def locked_out_response(username, address):
        client = Client(REMOTE_ADDR=address)
        for _ in range(3):
            response = login_form(client, username, "wrong")
        return response

    real = locked_out_response("member", "192.0.2.10")
    made_up = locked_out_response("no-such-member", "192.0.2.11")

    assert real.status_code == made_up.status_code == 429
    assert real["Retry-After"] == made_up["Retry-After"]
    assert without_csrf_token(real.content) == without_csrf_token(made_up.content)
    assert b"member" not in real.content


def test_a_locked_out_user_can_log_in_after_the_cool_off(lockout, member):
    lockout.AXES_COOLOFF_TIME = timedelta(seconds=1)
    client = Client()
    for _ in range(3):
        login_form(client, "member", "wrong")
    assert_refused(login_form(client, "member", PASSWORD))

    time.sleep(2.1)

    assert login_form(client, "member", PASSWORD).status_code == 302
    assert int(client.session["_auth_user_id"]) == member.pk


def test_a_good_login_forgets_earlier_mistakes(lockout, member):
    client = Client()
    for _ in range(2):
        login_form(client, "member", "wrong")
    assert login_form(client, "member", PASSWORD).status_code == 302
    client.logout()

    for _ in range(2):
        assert login_form(client, "member", "wrong").status_code == 200
    assert login_form(client, "member", PASSWORD).status_code == 302


def test_the_token_endpoint_locks_out_with_429_and_retry_after(lockout, member):
    client = APIClient()
    for _ in range(2):
        assert token_request(client, "member", "wrong").status_code == 400

    third = token_request(client, "member", "wrong")
    right_password_too = token_request(APIClient(REMOTE_ADDR="192.0.2.9"), "member", PASSWORD)

    assert_refused(third)
    assert_refused(right_password_too)
    assert third.json()["code"] == "locked_out"
    assert not Token.objects.exists()
