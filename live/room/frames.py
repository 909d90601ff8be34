"""What a client may send the room: one JSON object per text frame, small and shallow.

Python's json module recurses once per nesting level: a 3 KB frame of 1,500 nested brackets
raised RecursionError inside the consumer, which killed the socket without an error event and
left it counted in the room. Frames are checked for size and depth before they are parsed.
"""

from __future__ import annotations

from shopfeed import parsers

MAX_FRAME = 4096  # characters a client frame may have
MAX_DEPTH = 32  # nesting levels (objects and arrays) a client frame may have


class BadFrame(Exception):
    def __init__(self, code: str, detail: str):
        super().__init__(detail)
        self.code = code
        self.detail = detail


def nesting_depth(text: str) -> int:
    """The deepest nesting of objects and arrays in a JSON text (brackets inside strings do not
    count); cheap when a frame has few brackets, which is every frame a real client sends."""
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return 0  # cannot be deeper than the limit: skip the scan
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch == "[" or ch == "{":
            depth += 1
            if depth > deepest:
                deepest = depth
        elif ch == "]" or ch == "}":
            depth -= 1
    return deepest


def parse_client_frame(text: str | None) -> dict:
    """The frame as a dict with a string "action", or BadFrame saying what to fix."""
    if text is None:
        raise BadFrame("bad_frame", "Send JSON text frames.")
    if len(text) > MAX_FRAME:
        raise BadFrame("too_large", f"Frames are at most {MAX_FRAME} characters.")
    if nesting_depth(text) > MAX_DEPTH:
        raise BadFrame("too_deep", f"Frames may be nested at most {MAX_DEPTH} levels deep.")
    try:
        frame = parsers.loads(text)  # also refuses NUL, which PostgreSQL text cannot store
    except parsers.UnsafeJSON as exc:
        raise BadFrame("bad_json", str(exc)) from None
    except (ValueError, RecursionError):
        raise BadFrame("bad_json", "That frame is not valid JSON.") from None
    if not isinstance(frame, dict) or not isinstance(frame.get("action"), str):
        raise BadFrame("bad_frame", 'A frame is {"action": ..., ...}.')
    return frame
