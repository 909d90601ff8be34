import factory

from shopfeed.accounts.models import User


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    handle = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    display_name = factory.Faker("name")
    password = factory.django.Password("pw-Secret-123")


class CreatorFactory(UserFactory):
    username = factory.Sequence(lambda n: f"creator{n}")
    handle = factory.Sequence(lambda n: f"creator{n}")
    is_creator = True
