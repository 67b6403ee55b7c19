"""The least a WSGI app can do: ``make bench``'s floor.

gunicorn serving this, with the API's workers and threads, costs what any
app on that server pays per request before doing anything of its own.
"""

BODY = b"Hello World!"
HEADERS = [("Content-Type", "text/plain"), ("Content-Length", str(len(BODY)))]


def app(environ, start_response):
    start_response("200 OK", HEADERS)
    return [BODY]
