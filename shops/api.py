"""API v1 for shops and products. (Placeholder; being built.)"""

urlpatterns: list = []
