"""A GeoReport v2 server written from the published spec (wiki.open311.org/GeoReport_v2), for
the tests (importable as `georeport_server`): services, service definitions and requests, in JSON and XML, with the filters
`start_date`, `end_date`, `status`, `service_code` and `service_request_id`. Like many real
servers it caps an answer (`max_results`) without saying so, and it can be told to fail or to
send malformed documents, to test the client's faults.

It also accepts service request updates as mySociety's Open311 extension defines them (the
one FixMyStreet and its open311-adapter speak; `Open311::Endpoint::Role::mySociety` in
github.com/mysociety/open311-adapter): `POST servicerequestupdates.{fmt}`, form-encoded, with
the required fields api_key, service_request_id, update_id, status (upper case, from the
extension's list), updated_datetime (ISO 8601 with offset) and description (jurisdiction_id
too when the server has one). It answers `<service_request_updates><request_update>
<update_id>` (XML) or `[{"update_id": …}]` (JSON), refuses a bad update with the spec's
`<errors>` document and 400, and keeps every accepted update in `updates` for the tests to
assert what it received (it does not drop duplicates: that is the client's job)."""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from xml.sax.saxutils import escape

import uvicorn
from fastapi import FastAPI, HTTPException, Request, Response

FIXTURES = Path(__file__).parent / "open311" / "fixtures"  # request files in the spec's example format
SERVICES = [
    {"service_code": "SAN-MISSED", "service_name": "Missed garbage collection", "description": "Cart not emptied",
     "metadata": True, "type": "realtime", "keywords": "garbage,trash,missed", "group": "sanitation"},
    {"service_code": "POT", "service_name": "Pothole", "description": "Pothole in the street",
     "metadata": False, "type": "realtime", "keywords": "street", "group": "streets"},
]  # fmt: skip
DEFINITIONS = {
    "SAN-MISSED": {
        "service_code": "SAN-MISSED",
        "attributes": [
            {"variable": True, "code": "CART", "datatype": "singlevaluelist", "required": True,
             "datatype_description": None, "order": 1, "description": "Which cart?",
             "values": [{"key": "trash", "name": "Trash"}, {"key": "recycling", "name": "Recycling"}]}
        ],
    }
}  # fmt: skip


# mySociety's POST Service Request Update: required and optional fields, and the statuses.
UPDATE_REQUIRED = ("api_key", "service_request_id", "update_id", "status", "updated_datetime", "description")
UPDATE_OPTIONAL = {
    "jurisdiction_id", "email", "phone", "last_name", "first_name", "title", "media_url", "account_id",
    "service_request_id_ext", "public_anonymity_required", "email_alerts_requested", "service_code",
}  # fmt: skip
UPDATE_STATUSES = {
    "OPEN", "CLOSED", "FIXED", "IN_PROGRESS", "ACTION_SCHEDULED", "INVESTIGATING", "DUPLICATE",
    "NOT_COUNCILS_RESPONSIBILITY", "NO_FURTHER_ACTION", "INTERNAL_REFERRAL", "REOPEN", "FOR_TRIAGE",
}  # fmt: skip


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _xml(root: str, item: str, rows: list[dict]) -> str:
    body = "".join(
        f"<{item}>"
        + "".join(f"<{k}>{escape('' if v is None else str(v))}</{k}>" for k, v in row.items())
        + f"</{item}>"
        for row in rows
    )
    return f'<?xml version="1.0" encoding="utf-8"?><{root}>{body}</{root}>'


@dataclass
class GeoReport:
    """The server's state: its requests, the cap, and faults to inject."""

    requests: list[dict] = field(default_factory=list)
    max_results: int = 1000
    fail_next: int = 0  # answer this many requests.* calls with 503
    malformed_next: int = 0  # answer this many with a broken document
    down_after: int | None = None  # answer 503 once this many requests.* calls were made
    calls: list[str] = field(default_factory=list)
    updates: list[dict] = field(default_factory=list)  # every update accepted, in order
    update_calls: int = 0  # every POST servicerequestupdates, accepted or not
    fail_updates_next: int = 0  # answer this many update POSTs with 503
    api_key: str = "test-key"  # the key an update must carry
    jurisdiction_id: str | None = None

    def app(self) -> FastAPI:
        app = FastAPI()

        def answer(rows: list[dict], fmt: str, root: str, item: str) -> Response:
            if fmt == "json":
                return Response(json.dumps(rows), media_type="application/json")
            if fmt == "xml":
                return Response(_xml(root, item, rows), media_type="text/xml")
            raise HTTPException(404, "format is json or xml")

        @app.get("/services.{fmt}")
        async def services(fmt: str) -> Response:
            return answer(SERVICES, fmt, "services", "service")

        @app.get("/services/{code}.{fmt}")
        async def definition(code: str, fmt: str) -> Response:
            if code not in DEFINITIONS:
                raise HTTPException(404, "no such service")
            if fmt == "json":
                return Response(json.dumps(DEFINITIONS[code]), media_type="application/json")
            attrs = _xml(
                "attributes",
                "attribute",
                [{k: v for k, v in a.items() if k != "values"} for a in DEFINITIONS[code]["attributes"]],
            )
            return Response(attrs.replace('<?xml version="1.0" encoding="utf-8"?>', f'<?xml version="1.0" encoding="utf-8"?><service_definition><service_code>{code}</service_code>') + "</service_definition>", media_type="text/xml")  # fmt: skip

        @app.get("/requests.{fmt}")
        async def requests(fmt: str, request: Request) -> Response:
            self.calls.append(str(request.url))
            if self.down_after is not None and len(self.calls) > self.down_after:
                raise HTTPException(503, "down")
            if self.fail_next:
                self.fail_next -= 1
                raise HTTPException(503, "down for maintenance")
            if self.malformed_next:
                self.malformed_next -= 1
                return Response('[{"service_request_id": "x", "requested_datetime": "yesterday"' if fmt == "json" else "<service_requests><request>", media_type="text/plain")  # fmt: skip
            q = request.query_params
            rows = sorted(self.requests, key=lambda r: (r["requested_datetime"], r["service_request_id"]))
            if "start_date" in q:
                rows = [r for r in rows if _time(r["requested_datetime"]) >= _time(q["start_date"])]
            if "end_date" in q:
                rows = [r for r in rows if _time(r["requested_datetime"]) <= _time(q["end_date"])]
            for name in ("status", "service_code", "service_request_id"):
                if name in q:
                    wanted = set(q[name].split(","))
                    rows = [r for r in rows if str(r.get(name)) in wanted]
            return answer(rows[: self.max_results], fmt, "service_requests", "request")

        def errors(code: int, description: str, fmt: str) -> Response:
            if fmt == "json":
                return Response(
                    json.dumps([{"code": code, "description": description}]), code, media_type="application/json"
                )
            body = _xml("errors", "error", [{"code": code, "description": description}])
            return Response(body, code, media_type="text/xml")

        @app.post("/servicerequestupdates.{fmt}")
        async def post_update(fmt: str, request: Request) -> Response:
            self.update_calls += 1
            if self.fail_updates_next:
                self.fail_updates_next -= 1
                raise HTTPException(503, "down for maintenance")
            form = dict(await request.form())
            missing = [name for name in UPDATE_REQUIRED if not form.get(name)]
            if self.jurisdiction_id and form.get("jurisdiction_id") != self.jurisdiction_id:
                missing.append("jurisdiction_id")
            if missing:
                return errors(400, f"missing or wrong: {', '.join(missing)}", fmt)
            if form["api_key"] != self.api_key:
                return errors(403, "invalid api_key", fmt)
            if form["status"] not in UPDATE_STATUSES:
                return errors(400, f"status {form['status']!r} is not one of the extension's", fmt)
            try:
                when = _time(form["updated_datetime"])
            except ValueError:
                when = None
            if when is None or when.tzinfo is None:
                return errors(400, "updated_datetime is not ISO 8601 with an offset", fmt)
            if not any(r["service_request_id"] == form["service_request_id"] for r in self.requests):
                return errors(404, "no such service request", fmt)
            unknown = set(form) - set(UPDATE_REQUIRED) - UPDATE_OPTIONAL
            if unknown:
                return errors(400, f"unknown fields: {', '.join(sorted(unknown))}", fmt)
            self.updates.append(form)
            given = f"upd-{len(self.updates)}"
            if fmt == "json":
                return Response(json.dumps([{"update_id": given}]), media_type="application/json")
            return Response(
                _xml("service_request_updates", "request_update", [{"update_id": given}]), media_type="text/xml"
            )

        return app


class Served:
    def __init__(self, state: GeoReport):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.server = uvicorn.Server(uvicorn.Config(state.app(), host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert self.thread.is_alive() and time.monotonic() < deadline, "GeoReport test server did not start"
            time.sleep(0.02)
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
