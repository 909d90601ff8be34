"""Gift animation uploads: Lottie JSON, bounded in size and depth, checked before storing.

Images go through shopfeed.images (decoded and re-encoded); an animation is data the room's
player reads, so it must be a JSON object that looks like Lottie, never markup or script.
"""

import json

from django.core.exceptions import ValidationError

ANIMATION_MAX_BYTES = 1024 * 1024
ANIMATION_MAX_DEPTH = 64


def _depth(value, limit: int) -> int:
    stack = [(value, 1)]
    deepest = 0
    while stack:
        item, level = stack.pop()
        deepest = max(deepest, level)
        if deepest > limit:
            return deepest
        if isinstance(item, dict):
            stack.extend((v, level + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, level + 1) for v in item)
    return deepest


def validate_animation(file) -> None:
    if getattr(file, "_committed", False):
        return  # already stored, so already checked
    size = getattr(file, "size", None)
    if size is not None and size > ANIMATION_MAX_BYTES:
        raise ValidationError(
            f"The animation is {size / 1024:.0f} KB; the limit is "
            f"{ANIMATION_MAX_BYTES // 1024} KB.",
            code="animation_too_large",
        )
    file.seek(0)
    raw = file.read(ANIMATION_MAX_BYTES + 1)
    file.seek(0)
    if len(raw) > ANIMATION_MAX_BYTES:
        raise ValidationError("The animation is too large.", code="animation_too_large")
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        raise ValidationError(
            "Upload a Lottie animation exported as JSON.", code="animation_bad_type"
        ) from None
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("layers"), list)
        or not isinstance(data.get("fr", data.get("v")), int | float | str)
    ):
        raise ValidationError(
            "That JSON is not a Lottie animation (it needs a version and layers).",
            code="animation_bad_type",
        )
    if _depth(data, ANIMATION_MAX_DEPTH) > ANIMATION_MAX_DEPTH:
        raise ValidationError("The animation is nested too deeply.", code="animation_too_deep")
