"""api.py: a small JSON API, on Linux and on a board alike (SPEC section 8).

GET /cgi-bin/api.py?n=2&n=3.5 adds up the numbers of the query; POST a JSON object
{"numbers": [2, 3.5]} (Content-Type: application/json) to add up those. It answers
{"count": 2, "sum": 5.5, "mean": 2.75}, and bad input with {"error": "..."} and the
status that fits: 400 (not numbers, not JSON), 413, 415, 405.

    curl 'localhost:8080/cgi-bin/api.py?n=1&n=2'
    curl -H 'Content-Type: application/json' -d '{"numbers": [1, 2, 3]}' \
        localhost:8080/cgi-bin/api.py
"""

from microcgi.script import BadRequest, json_body, query, send_json

MAX_NUMBERS = 100


def numbers_of(environ, stdin):
    """The numbers the request gives; BadRequest when it gives anything else."""
    if environ.get("REQUEST_METHOD") == "POST":
        data = json_body(environ, stdin, 4096)
        numbers = data.get("numbers") if isinstance(data, dict) else None
        if not isinstance(numbers, list):
            raise BadRequest('send {"numbers": [...]}')
    else:
        numbers = []
        for text in query(environ).getlist("n"):
            try:
                numbers.append(float(text) if "." in text else int(text))
            except ValueError:
                raise BadRequest("not a number: %r" % text) from None
    if len(numbers) > MAX_NUMBERS:
        raise BadRequest("more than %d numbers" % MAX_NUMBERS, 413)
    for n in numbers:
        if isinstance(n, bool) or not isinstance(n, (int, float)):
            raise BadRequest("not a number: %r" % (n,))
    return numbers


def main(environ, stdin, stdout):
    if environ.get("REQUEST_METHOD") not in ("GET", "HEAD", "POST"):
        send_json(stdout, {"error": "GET or POST"}, 405, [("Allow", "GET, HEAD, POST")])
        return
    try:
        numbers = numbers_of(environ, stdin)
    except BadRequest as e:
        send_json(stdout, {"error": str(e)}, e.status)
        return
    total = sum(numbers)
    mean = total / len(numbers) if numbers else None
    send_json(stdout, {"count": len(numbers), "sum": total, "mean": mean})


# The adapter, exactly as SPEC section 8 gives it (kept out of the formatter's reach).
# fmt: off
if __name__ == "__main__":
    from microcgi.cgi import run
    run(main)
