from django.db import IntegrityError, transaction

from shopfeed.errors import ShopFeedError

from .models import Follow, User


@transaction.atomic
def follow(*, follower: User, creator: User) -> Follow:
    if follower.pk == creator.pk:
        raise ShopFeedError("You cannot follow yourself.", code="self_follow")
    try:
        with transaction.atomic():
            return Follow.objects.create(follower=follower, creator=creator)
    except IntegrityError:
        return Follow.objects.get(follower=follower, creator=creator)


@transaction.atomic
def unfollow(*, follower: User, creator: User) -> None:
    Follow.objects.filter(follower=follower, creator=creator).delete()


@transaction.atomic
def become_creator(*, user: User) -> User:
    if not user.is_creator:
        user.is_creator = True
        user.save(update_fields=["is_creator", "updated_at"])
    return user
