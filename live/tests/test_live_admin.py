"""Staff tools for live: sessions with lineup, deals and summary; force-ending; chat moderation;
restrictions and blocked words."""

import pytest
from django.urls import reverse
from django.utils import timezone

from live.models import BlockedWord, ChatMessage, FlashDeal, LiveSession, RoomRestriction
from live.selling import services as selling

from .factories import PaidLiveCheckoutFactory
from .selling_support import capture_room_events, live_session, product_with_variant

pytestmark = pytest.mark.django_db


@pytest.fixture
def room_events(monkeypatch):
    return capture_room_events(monkeypatch)


@pytest.fixture
def product(shop):
    return product_with_variant(shop, price_amount=2000, quantity=30, title="Glow serum")[0]


@pytest.fixture
def session(shop, product):
    return live_session(shop, product, title="Friday drop")


def changelist(model: str) -> str:
    return reverse(f"admin:live_{model}_changelist")


def run_action(client, model, action, objects):
    return client.post(
        changelist(model),
        {"action": action, "_selected_action": [o.pk for o in objects]},
        follow=True,
    )


def listed(client, model, **params) -> set[int]:
    response = client.get(changelist(model), params)
    assert response.status_code == 200
    return {o.pk for o in response.context["cl"].result_list}


def test_only_staff_reach_the_live_admin(client, shopper):
    client.force_login(shopper)
    response = client.get(changelist("livesession"))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_the_session_page_shows_lineup_deals_and_summary_but_never_the_stream_key(
    admin_client, localstripe, session, product, creator
):
    selling.start_deal(
        session=session,
        product=product,
        price_amount=1500,
        quantity=4,
        duration_seconds=60,
        by=creator,
    )
    PaidLiveCheckoutFactory(session=session, variant=product.variants.get(), quantity=2)
    ChatMessage.objects.create(session=session, user=creator, text="Welcome in")

    response = admin_client.get(reverse("admin:live_livesession_change", args=[session.pk]))

    assert response.status_code == 200
    body = response.content.decode()
    assert "Glow serum" in body  # lineup and deal inlines
    assert "$15.00" in body  # the deal price
    assert "Orders: 1 (2 units)" in body
    assert "Revenue: $30.00" in body
    assert "Best seller: Glow serum (2 sold)" in body
    assert "Chat messages: 1 (0 removed)" in body
    assert session.stream_key not in body


def test_staff_force_end_a_session_and_its_running_deal(
    admin_client, session, product, creator, room_events, django_capture_on_commit_callbacks
):
    deal = selling.start_deal(
        session=session,
        product=product,
        price_amount=1500,
        quantity=4,
        duration_seconds=60,
        by=creator,
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = run_action(admin_client, "livesession", "force_end", [session])

    assert "Ended: 1." in response.content.decode()
    session.refresh_from_db()
    deal.refresh_from_db()
    assert session.status == LiveSession.Status.ENDED
    assert session.ended_at is not None
    assert deal.status == FlashDeal.Status.ENDED
    assert room_events.types(session.pk) == ["deal.ended", "session.ended"]


def test_staff_filter_sessions_by_status_and_search_by_host(admin_client, session, shop):
    ended = live_session(shop, title="Last week", status=LiveSession.Status.ENDED)
    assert listed(admin_client, "livesession", status__exact="ended") == {ended.pk}
    assert listed(admin_client, "livesession", q=shop.owner.handle) == {session.pk, ended.pk}


def test_staff_end_a_deal_from_the_deal_list(
    admin_client, session, product, creator, room_events, django_capture_on_commit_callbacks
):
    deal = selling.start_deal(
        session=session,
        product=product,
        price_amount=1500,
        quantity=4,
        duration_seconds=60,
        by=creator,
    )
    assert listed(admin_client, "flashdeal", status__exact="active") == {deal.pk}
    with django_capture_on_commit_callbacks(execute=True):
        run_action(admin_client, "flashdeal", "end_deals", [deal])
    deal.refresh_from_db()
    assert deal.status == FlashDeal.Status.ENDED
    assert room_events.of(session.pk, "deal.ended") == [{"deal_id": deal.pk}]


def test_staff_search_chat_by_text_and_author(admin_client, session, shopper, creator):
    rude = ChatMessage.objects.create(session=session, user=shopper, text="buy my spam here")
    kind = ChatMessage.objects.create(session=session, user=creator, text="welcome all")
    assert listed(admin_client, "chatmessage", q="spam") == {rude.pk}
    assert listed(admin_client, "chatmessage", q=creator.handle) == {kind.pk}


def test_delete_moderate_hides_the_message_and_tells_the_room(
    admin_client, session, shopper, room_events, django_capture_on_commit_callbacks
):
    rude = ChatMessage.objects.create(session=session, user=shopper, text="buy my spam here")
    kept = ChatMessage.objects.create(session=session, user=shopper, text="love it")

    with django_capture_on_commit_callbacks(execute=True):
        response = run_action(admin_client, "chatmessage", "delete_moderate", [rude])

    assert "Removed: 1." in response.content.decode()
    rude.refresh_from_db()
    kept.refresh_from_db()
    assert rude.deleted_at is not None
    assert rude.deleted_by.is_staff
    assert kept.deleted_at is None
    assert room_events.of(session.pk, "chat.deleted") == [{"message_id": rude.pk}]
    assert listed(admin_client, "chatmessage", removed="yes") == {rude.pk}
    # Moderation keeps the row: there is no hard delete.
    actions = admin_client.get(changelist("chatmessage")).context["action_form"]
    assert "delete_selected" not in dict(actions.fields["action"].choices)


def test_restrictions_and_blocked_words_are_managed_by_staff(admin_client, shop, shopper):
    RoomRestriction.objects.create(
        host=shop.owner,
        user=shopper,
        kind=RoomRestriction.Kind.BAN,
        reason="spam",
        until=timezone.now() + timezone.timedelta(days=1),
    )
    assert len(listed(admin_client, "roomrestriction", q=shopper.handle)) == 1

    add = reverse("admin:live_blockedword_add")
    response = admin_client.post(add, {"shop": shop.pk, "word": "Scam"})
    assert response.status_code == 302
    response = admin_client.post(add, {"shop": shop.pk, "word": "scam"})
    assert response.status_code == 200  # re-rendered with the error
    assert BlockedWord.objects.filter(shop=shop).count() == 1
