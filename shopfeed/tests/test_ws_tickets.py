"""POST /api/v1/live/ws-ticket/: a short-lived, single-use ticket for the room's WebSocket."""

import threading

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from shopfeed import ws_tickets
from shopfeed.accounts.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

TICKETS = "/api/v1/live/ws-ticket/"


@pytest.fixture
def member(db):
    return UserFactory(handle="member")


def test_a_signed_in_browser_gets_a_ticket_for_thirty_seconds(member):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(member)
    client.get("/")  # the page sets the CSRF cookie the script sends back
    csrf = client.cookies["csrftoken"].value

    response = client.post(TICKETS, HTTP_X_CSRFTOKEN=csrf)

    assert response.status_code == 200
    body = response.json()
    assert body["expires_in"] == 30
    assert ws_tickets.redeem_ticket(body["ticket"]) == member.pk


def test_a_browser_session_without_the_csrf_token_gets_no_ticket(member):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(member)

    assert client.post(TICKETS).status_code == 403


def test_an_app_gets_a_ticket_with_its_token(member):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=member).key}")

    response = client.post(TICKETS)

    assert response.status_code == 200
    assert ws_tickets.redeem_ticket(response.json()["ticket"]) == member.pk


def test_an_anonymous_caller_gets_no_ticket():
    assert APIClient().post(TICKETS).status_code in (401, 403)


def test_two_connects_racing_with_one_ticket_let_one_in(member):
    ticket = ws_tickets.issue_ticket(user=member)
    results = []
    barrier = threading.Barrier(8)

    def redeem():
        barrier.wait()
        results.append(ws_tickets.redeem_ticket(ticket))

    threads = [threading.Thread(target=redeem) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sorted(results, key=str) == [member.pk] + [None] * 7


def test_the_api_schema_documents_the_ticket_endpoint():
    schema = APIClient().get("/api/schema/", HTTP_ACCEPT="application/json").json()

    operation = schema["paths"][TICKETS]["post"]
    ticket = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert ticket == {"$ref": "#/components/schemas/WebSocketTicket"}
    assert set(schema["components"]["schemas"]["WebSocketTicket"]["properties"]) == {
        "ticket",
        "expires_in",
    }
