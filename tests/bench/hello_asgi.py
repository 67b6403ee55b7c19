"""The least an ASGI app can do: ``make bench``'s floor.

gunicorn serving this, with the API's worker class and processes, costs what
any app on that server pays per request before doing anything of its own.
"""

BODY = b"Hello World!"
START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(BODY)).encode())],
}
END = {"type": "http.response.body", "body": BODY}


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send(START)
    await send(END)
