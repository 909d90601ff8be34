"""The project's ASGI application with a count of the SQL statements the process runs, for tests
that bound the database work of the room (`GET /__test__/sql-count`). Test support only: the
room servers of the busy-room tests run this module, production runs shopfeed.asgi."""

import threading

from django.db.backends.signals import connection_created

from shopfeed.asgi import application as project_application

_lock = threading.Lock()
_count = 0


def _counting(execute, sql, params, many, context):
    global _count
    with _lock:
        _count += 1
    return execute(sql, params, many, context)


def _install(sender, connection, **kwargs):
    if _counting not in connection.execute_wrappers:
        connection.execute_wrappers.append(_counting)


connection_created.connect(_install)


async def application(scope, receive, send):
    if scope["type"] == "http" and scope["path"] == "/__test__/sql-count":
        body = str(_count).encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain")]})  # fmt: skip
        await send({"type": "http.response.body", "body": body})
        return
    await project_application(scope, receive, send)
