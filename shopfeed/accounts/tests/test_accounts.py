import pytest
from django.urls import reverse

from shopfeed.accounts import services
from shopfeed.accounts.models import Follow, User
from shopfeed.errors import ShopFeedError

pytestmark = pytest.mark.django_db


def test_signup_as_creator_lands_on_the_dashboard(client):
    response = client.post(
        reverse("signup"),
        {
            "handle": "newbie",
            "username": "newbie",
            "email": "n@example.com",
            "display_name": "New Bie",
            "is_creator": "on",
            "password1": "a-Long-pass-123",
            "password2": "a-Long-pass-123",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("shops:dashboard")
    assert User.objects.get(handle="newbie").is_creator


def test_signup_with_a_taken_handle_is_refused(client, shopper):
    response = client.post(
        reverse("signup"),
        {
            "handle": "SHOPPER",
            "username": "other",
            "password1": "a-Long-pass-123",
            "password2": "a-Long-pass-123",
        },
    )
    assert response.status_code == 400
    assert b"That handle is taken." in response.content
    assert User.objects.count() == 1


def test_follow_is_once_and_never_yourself(shopper, creator):
    services.follow(follower=shopper, creator=creator)
    services.follow(follower=shopper, creator=creator)
    assert Follow.objects.count() == 1
    with pytest.raises(ShopFeedError):
        services.follow(follower=creator, creator=creator)


def test_shopper_follows_and_unfollows_a_creator_from_the_profile(client, shopper, creator):
    client.force_login(shopper)
    url = reverse("follow", kwargs={"handle": creator.handle})
    assert client.post(url).status_code == 302
    assert Follow.objects.filter(follower=shopper, creator=creator).exists()
    client.post(url, {"action": "unfollow"})
    assert not Follow.objects.exists()


def test_following_needs_a_login_and_a_post(client, creator):
    url = reverse("follow", kwargs={"handle": creator.handle})
    assert client.get(url).status_code in (302, 405)
    assert client.post(url).status_code == 302
    assert not Follow.objects.exists()
