"""A corpus of hostile queued messages, as the values Kombu's Redis transport keeps in a list.

Script and HTML in every field, invalid UTF-8, deep nesting, 10 MB bodies, code-running pickles,
wrong content types, missing headers, envelopes that are not JSON, binary garbage, unicode tricks,
huge headers. ``window.__pwned`` is what the script payloads try to set; ``PICKLE_MARKER`` is the
file a pickle payload creates if anything ever unpickles it.
"""

from __future__ import annotations

import base64
import json
import os
import pickle
import uuid
from typing import Any

XSS = [
    "<script>window.__pwned=1</script>",
    '<img src=x onerror="window.__pwned=1">',
    '"><svg onload="window.__pwned=1">',
    "javascript:window.__pwned=1",
    "'-alert(1)-'",
    "</textarea><script>window.__pwned=1</script>",
    "{{7*7}}{% debug %}",
    '<a href="javascript:window.__pwned=1">click</a>',
    "</script><script>window.__pwned=1</script>",
    '<iframe srcdoc="<script>parent.__pwned=1</script>">',
]


class _RunsCode:
    """Unpickling this runs a shell command creating ``path``."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))


class _OpensFile:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def envelope(
    body: bytes | str,
    content_type: str | None = "application/json",
    headers: dict[str, Any] | None = None,
    properties: dict[str, Any] | None = None,
    encoding: str = "utf-8",
    base64_body: bool = True,
    extra: dict[str, Any] | None = None,
) -> bytes:
    raw = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    props = {"body_encoding": "base64", "delivery_tag": str(uuid.uuid4()), "priority": 0}
    if not base64_body:
        props.pop("body_encoding")
    props.update(properties or {})
    value: dict[str, Any] = {
        "body": base64.b64encode(raw).decode() if base64_body else raw.decode("utf-8", "replace"),
        "content-encoding": encoding,
        "content-type": content_type,
        "headers": headers if headers is not None else {},
        "properties": props,
    }
    value.update(extra or {})
    return json.dumps(value).encode()


def celery(task: str, task_id: str, args: Any, kwargs: Any, headers: dict[str, Any] | None = None, **kw) -> bytes:
    body = json.dumps([args, kwargs, {"callbacks": None, "errbacks": None, "chain": None, "chord": None}])
    base = {"lang": "py", "task": task, "id": task_id, "retries": 0, "argsrepr": repr(args), "kwargsrepr": repr(kwargs)}
    base.update(headers or {})
    return envelope(body, headers=base, properties={"correlation_id": task_id}, **kw)


def corpus(marker: str, pickle_marker: str) -> list[tuple[str, bytes]]:
    """(label, stored value) pairs. ``marker`` is planted in every argument, body and result so a
    test can prove it never reaches a viewer."""
    x = XSS
    items: list[tuple[str, bytes]] = []
    add = items.append
    for i, payload in enumerate(x):
        add((f"xss-args-{i}", celery("app.tasks.work", str(uuid.uuid4()), [payload, marker], {"html": payload})))
    add(("xss-task-name", celery(x[0] + x[1], str(uuid.uuid4()), [marker], {})))
    add(("xss-task-id", celery("app.tasks.work", x[2] + x[1], [marker], {})))
    add(
        ("xss-headers", celery("app.tasks.work", str(uuid.uuid4()), [marker], {}, headers={x[1]: x[0], "origin": x[2]}))
    )
    add(("xss-content-type", envelope(f"{marker} {x[0]}", content_type="text/html" + x[1])))
    add(("html-content-type", envelope(f"<html><body>{x[0]}{marker}</body></html>", content_type="text/html")))
    add(("xss-properties", envelope(f"[{json.dumps(marker)}]", properties={"reply_to": x[0], "message_id": x[1]})))
    add(("xss-plain-body", envelope(f"{x[0]}{x[1]}{x[3]} {marker}", content_type="text/plain")))
    add(("invalid-utf8", envelope(b"\xff\xfe\xfa" + marker.encode() + b"\xc3\x28<script>", content_type="text/plain")))
    add(
        (
            "invalid-utf8-json",
            envelope(b'[["\xff\xfe' + marker.encode() + b'"], {}]', headers={"task": "t", "id": "i1"}),
        )
    )
    deep = "[" * 10_000 + "]" * 10_000
    add(("deep-json-10000", envelope(f'[{deep}, {{"m": "{marker}"}}]', headers={"task": "t.deep", "id": "deep-1"})))
    add(
        (
            "deep-json-990",
            envelope(f'[[{"[" * 990}"{marker}"{"]" * 990}], {{}}]', headers={"task": "t", "id": "deep-2"}),
        )
    )
    add(("deep-json-body", envelope("{" + '"a":{' * 5000 + "}" * 5000 + "}")))
    add(("huge-10mb-json", celery("app.tasks.big", str(uuid.uuid4()), [marker + "A" * (10 * 1024 * 1024)], {})))
    add(("huge-10mb-binary", envelope(os.urandom(1024) * (10 * 1024), content_type="application/octet-stream")))
    pickled = pickle.dumps(_RunsCode(pickle_marker))
    add(("pickle-os-system", envelope(pickled, content_type="application/x-python-serialize", encoding="binary")))
    add(("pickle-as-json", envelope(pickled, content_type="application/json", encoding="binary")))
    add(("pickle-no-type", envelope(pickle.dumps(_OpensFile(pickle_marker)), content_type=None, encoding="binary")))
    add(("pickle-raw-value", pickled))  # not even an envelope
    add(
        (
            "wrong-content-type-yaml",
            envelope(f"!!python/object/apply:os.system ['touch {pickle_marker}']", "application/x-yaml"),
        )
    )
    add(("wrong-content-type-msgpack", envelope(b"\x93\x01\x02\x03" + marker.encode(), "application/x-msgpack")))
    add(("json-says-json-is-not", envelope(f"not json at all {marker} {x[0]}", content_type="application/json")))
    add(("missing-headers", json.dumps({"body": base64.b64encode(marker.encode()).decode()}).encode()))
    add(("headers-not-a-dict", envelope(marker, extra={"headers": [x[0]], "properties": x[1]})))
    add(("envelope-not-json", f"{{not json {marker} {x[0]}".encode()))
    add(("envelope-json-list", json.dumps([marker, x[0]]).encode()))
    add(("binary-garbage", os.urandom(4096)))
    add(("nul-bytes", b"\x00" * 100 + marker.encode() + b"\x00<script>"))
    add(
        (
            "rtl-zero-width",
            celery(
                "app.tasks.\u202eexe.txt", str(uuid.uuid4()), ["\u200b\u200d\ufeff" + marker], {"n": "\u202e" + x[0]}
            ),
        )
    )
    add(("surrogates", envelope('["\\ud800' + marker + '"]', headers={"task": "t", "id": "surr-1"})))
    add(("huge-header", celery("app.tasks.work", str(uuid.uuid4()), [marker], {}, headers={"big": x[0] * 50_000})))
    add(
        (
            "many-headers",
            celery("app.tasks.work", str(uuid.uuid4()), [marker], {}, headers={f"h{i}": x[1] for i in range(5000)}),
        )
    )
    add(
        (
            "nan-infinity",
            envelope(
                f'[[NaN, Infinity, -Infinity, 1e999, "{marker}"], {{}}]',
                headers={"task": "t", "id": "nan-1", "x-switchyard-published-at": "nan"},
            ),
        )
    )
    add(("huge-int", envelope(f'[[{"9" * 5000}, "{marker}"], {{}}]', headers={"task": "t", "id": "int-1"})))
    add(
        (
            "x-death-hostile",
            celery(
                "app.tasks.work",
                str(uuid.uuid4()),
                [marker],
                {},
                headers={
                    "x-death": [
                        {"reason": x[0], "queue": x[1], "exception-message": marker + x[0], "time": "nan", "count": "x"}
                    ]
                },
            ),
        )
    )
    add(("not-base64", envelope(marker + "%%%<script>", base64_body=False, properties={"body_encoding": "base64"})))
    add(("slash-task-id", celery("app.tasks.work", "../../a/b?c=<x>#d", [marker], {})))
    add(("empty", b""))
    return items
