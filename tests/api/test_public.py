"""Public pages: health with the storage mode, transparency from live settings, docs, root."""

from __future__ import annotations

from fastapi.testclient import TestClient

from fleetpilot.api.app import create_app
from fleetpilot.settings import Settings


def test_health_reports_database_and_storage_mode(shared_api):
    body = shared_api.get("/health", None).json()
    assert body["status"] == "ok"
    assert body["database"]["reachable"] is True
    assert body["database"]["storage_mode"] in ("native", "timescale")
    assert body["database"]["schema_version"] >= 4


def test_public_pages_ignore_stale_credentials(shared_api):
    headers = {"Authorization": "Bearer expired-or-garbage"}
    for path in ("/health", "/transparency", "/api/v1/transparency", "/openapi.json"):
        assert shared_api.client.get(path, headers=headers).status_code == 200, path


def test_transparency_says_what_who_and_how_long(shared_api):
    facts = shared_api.get("/api/v1/transparency", None).json()
    assert (facts["retention_days"], facts["k_min_shifts"], facts["k_min_people"]) == (90, 5, 3)
    access = {a["capability"]: a["roles"] for a in facts["access"]}
    assert access["own_data"] == ["driver"] and access["live"] == ["supervisor"]
    assert access["public"] == ["admin", "anonymous", "data_officer", "driver", "supervisor"]
    assert any("90 days" in item["kept"] for item in facts["collected"])
    page = shared_api.get("/transparency", None)
    assert page.headers["content-type"].startswith("text/html")
    assert "90 days" in page.text and "5 shifts" in page.text


def test_transparency_counts_data_not_stored(api):
    api.sql(
        "INSERT INTO privacy_drops (vehicle_id, day, reason, fixes, events) VALUES "
        "('truck-1', current_date, 'off_duty', 1200, 3), ('truck-2', current_date, 'off_duty', 800, 0), "
        "('truck-1', current_date - 1, 'private_mode', 50, 0), ('truck-1', current_date - 90, 'off_duty', 7, 0)"
    )
    drops = {
        d["reason"]: (d["fixes"], d["events"])
        for d in api.get("/api/v1/transparency", None).json()["not_stored_last_30_days"]
    }
    assert drops == {"off_duty": (2000, 3), "private_mode": (50, 0)}
    assert "2,000" in api.get("/transparency", None).text


def test_openapi_and_docs_are_served(shared_api):
    spec = shared_api.get("/openapi.json", None).json()
    assert spec["info"]["title"] == "fleetpilot"
    assert "OAuth2PasswordBearer" in spec["components"]["securitySchemes"]
    assert shared_api.get("/docs", None).status_code == 200


def test_root_leads_to_the_dashboards(shared_api):
    response = shared_api.client.get("/", follow_redirects=False)
    assert response.status_code == 307 and response.headers["location"] in ("/app/", "/docs")


def test_health_answers_before_the_first_migration(fresh_db, tmp_path):
    settings = Settings(database_url=fresh_db, data_dir=tmp_path, jwt_secret="t" * 40, _env_file=None)
    with TestClient(create_app(settings, pool_size=2)) as client:
        body = client.get("/health").json()
    assert body["database"] == {"reachable": True, "storage_mode": None, "schema_version": None}


def test_transparency_shows_the_dead_letters_own_retention(api):
    """Issue 13 (dead letters keep positions): their own short retention, live from the
    settings, on the transparency page (JSON and HTML)."""
    api.sql("UPDATE privacy_settings SET deadletter_days = 3")
    items = api.get("/api/v1/transparency", None).json()["collected"]
    dead = [item for item in items if "dead letters" in item["what"]]
    assert len(dead) == 1 and dead[0]["kept"] == "3 days, then deleted"
    assert "number" in dead[0]["what"] and "removed" in dead[0]["what"]
    assert "3 days, then deleted" in api.get("/transparency", None).text
