"""/ogc: OGC API – Features Part 1 (Core, GeoJSON) over the layers in `layers`.

Thin on purpose: parse the standard's parameters, admit the reader per layer (the policy
module's `Reader`: the same bearer tokens as the API, or a read-only API key), build the
layer with the API's own service function, then filter by bbox and page. The landing page and
conformance declaration are public (they hold no data); collections list only the layers the
reader may read, and a layer the reader may not read is 404, as if it did not exist.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

import orjson
import shapely
from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response, status

from fleetpilot.api import policy
from fleetpilot.api.city.service import city_layer
from fleetpilot.api.deps import Allowed, Conn
from fleetpilot.api.ogc import params
from fleetpilot.api.ogc.layers import LAYERS, Feature, Layer
from fleetpilot.api.policy import Capability, Reader

PREFIX = "/ogc"
router = APIRouter(prefix=PREFIX, tags=["ogc api features"])
ReaderDep = Annotated[Reader, Depends(policy.reader_gate)]
Public = Allowed(Capability.PUBLIC)
CollectionId = Annotated[str, Path(max_length=64)]
FeatureId = Annotated[str, Path(max_length=200)]
REFUSALS = {
    400: {"description": "an invalid or unknown query parameter"},
    401: {"description": "no valid bearer token or API key"},
    404: {"description": "no such collection or feature (or not one this reader may read)"},
}
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
]
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
TRS = "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"
JSON, GEOJSON = "application/json", "application/geo+json"
ITEM_PARAMETERS = {"bbox", "datetime", "limit", "offset", "f"}
# Declared for the API definition only: read (and refused with 400, as the standard asks) by params.
Bbox = Annotated[str | None, Query(description="west,south,east,north in WGS 84 degrees (CRS84)")]
Datetime = Annotated[
    str | None,
    Query(description="RFC 3339 instant or interval (a/b, ../b, a/..): the days an aggregate layer is built over"),
]
Limit = Annotated[
    str | None, Query(description=f"features per page, 1 to {params.MAX_LIMIT} (default {params.DEFAULT_LIMIT})")
]
Offset = Annotated[str | None, Query(description="features to skip (the next/prev links carry it)")]
Format = Annotated[str | None, Query(description="json (the only format)")]


def _json(body: Any, media_type: str = JSON) -> Response:
    return Response(orjson.dumps(body), media_type=media_type)


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + PREFIX


def _only(request: Request, allowed: set[str]) -> dict[str, str]:
    """The query parameters, refusing any the standard does not define here (400, as it asks)."""
    unknown = set(request.query_params) - allowed
    if unknown:
        raise params.bad_request(f"unknown query parameter(s): {', '.join(sorted(unknown))}")
    if request.query_params.get("f", "json") not in ("json", "geojson"):
        raise params.bad_request("f: only json is served")
    return dict(request.query_params)


@router.get("", responses=REFUSALS)
async def landing(request: Request, _: Public) -> Response:
    """The landing page: what this is and where the API definition, conformance and data are."""
    _only(request, {"f"})
    base = _base(request)
    root = str(request.base_url).rstrip("/")
    return _json(
        {
            "title": "fleetpilot – sanitation fleet layers",
            "description": "k-anonymous aggregate layers (route coverage, efficiency, hotspots) and the"
            " city's facilities and route plans, as OGC API – Features. Access: a bearer token, or a"
            " read-only API key an administrator issues (Authorization: Bearer fpk_… or X-API-Key).",
            "links": [
                {"href": base, "rel": "self", "type": JSON, "title": "this document"},
                {
                    "href": f"{root}/openapi.json",
                    "rel": "service-desc",
                    "type": "application/vnd.oai.openapi+json;version=3.0",
                },
                {"href": f"{root}/docs", "rel": "service-doc", "type": "text/html"},
                {"href": f"{base}/conformance", "rel": "conformance", "type": JSON},
                {"href": f"{base}/collections", "rel": "data", "type": JSON},
            ],
        }
    )


@router.get("/conformance", responses=REFUSALS)
async def conformance(request: Request, _: Public) -> Response:
    _only(request, {"f"})
    return _json({"conformsTo": CONFORMANCE})


# The city's extent per city version (the city layer is cached the same way).
_extent: dict[str, list[float]] = {}


async def _city_extent(conn) -> list[float] | None:
    layer = await city_layer(conn)
    if layer.etag not in _extent:
        geometries = [f["geometry"] for f in orjson.loads(layer.body)["features"] if f["geometry"]]
        if not geometries:
            return None
        bounds = shapely.total_bounds(shapely.from_geojson([orjson.dumps(g).decode() for g in geometries]))
        _extent.clear()
        _extent[layer.etag] = [round(float(v), 7) for v in bounds]
    return _extent[layer.etag]


def _collection(base: str, layer: Layer, extent: list[float] | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": layer.id,
        "title": layer.title,
        "description": layer.description,
        "itemType": "feature",
        "crs": [CRS84],
        "links": [
            {"href": f"{base}/collections/{layer.id}", "rel": "self", "type": JSON},
            {"href": f"{base}/collections/{layer.id}/items", "rel": "items", "type": GEOJSON},
        ],
    }
    extent_body: dict[str, Any] = {}
    if extent:
        extent_body["spatial"] = {"bbox": [extent], "crs": CRS84}
    if layer.temporal:
        extent_body["temporal"] = {"interval": [[None, None]], "trs": TRS}
    if extent_body:
        body["extent"] = extent_body
    return body


def _layer_for(reader: Reader, collection_id: str) -> Layer:
    layer = LAYERS.get(collection_id)
    if layer is None or not reader.may(layer.capability):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such collection")
    return layer


@router.get("/collections", responses=REFUSALS)
async def collections(request: Request, reader: ReaderDep, conn: Conn) -> Response:
    """The layers this reader may read."""
    _only(request, {"f"})
    base = _base(request)
    extent = await _city_extent(conn)
    shown = [_collection(base, layer, extent) for layer in LAYERS.values() if reader.may(layer.capability)]
    return _json(
        {
            "links": [{"href": f"{base}/collections", "rel": "self", "type": JSON}],
            "collections": shown,
        }
    )


@router.get("/collections/{collection_id}", responses=REFUSALS)
async def collection(request: Request, reader: ReaderDep, conn: Conn, collection_id: CollectionId) -> Response:
    _only(request, {"f"})
    layer = _layer_for(reader, collection_id)
    return _json(_collection(_base(request), layer, await _city_extent(conn)))


async def _features(request: Request, reader: Reader, conn, layer: Layer) -> list[Feature]:
    """The whole layer for this request's `datetime`, as the reader is admitted to it."""
    access = reader.access(layer.capability)
    scope = None
    if layer.temporal:
        scope = await policy.aggregate_scope(conn, access, await params.days(request.query_params.get("datetime")))
    return await layer.build(conn, scope)


def _in_box(features: list[Feature], box: params.Box) -> list[Feature]:
    """Features whose geometry intersects the box (features without geometry never do)."""
    geometries = shapely.from_geojson(
        [orjson.dumps(f["geometry"]).decode() if f["geometry"] else "null" for f in features], on_invalid="ignore"
    )
    hit = False
    for west, south, east, north in box.boxes():
        hit = hit | shapely.intersects(geometries, shapely.box(west, south, east, north))
    return [f for f, inside in zip(features, hit if len(features) else []) if inside]


@router.get("/collections/{collection_id}/items", responses=REFUSALS)
async def items(
    request: Request,
    reader: ReaderDep,
    conn: Conn,
    collection_id: CollectionId,
    bbox: Bbox = None,
    datetime: Datetime = None,
    limit: Limit = None,
    offset: Offset = None,
    f: Format = None,
) -> Response:
    """Features of a layer: filtered by bbox, built over `datetime` (aggregates), paged by limit/offset."""
    query = _only(request, ITEM_PARAMETERS)
    layer = _layer_for(reader, collection_id)
    box = params.parse_bbox(query.get("bbox"))
    limit, offset = params.parse_limit(query.get("limit")), params.parse_offset(query.get("offset"))
    features = await _features(request, reader, conn, layer)
    if box is not None and features:
        features = _in_box(features, box)
    page = features[offset : offset + limit]
    url = f"{_base(request)}/collections/{layer.id}/items"
    # The links carry what chose these features: bbox, and datetime for the layers built over it.
    kept = {k: v for k, v in query.items() if k == "bbox" or (k == "datetime" and layer.temporal)}

    def link(rel: str, at: int) -> dict[str, str]:
        return {"href": f"{url}?{urlencode({**kept, 'limit': limit, 'offset': at})}", "rel": rel, "type": GEOJSON}

    links = [link("self", offset)]
    if offset + limit < len(features):
        links.append(link("next", offset + limit))
    if offset > 0:
        links.append(link("prev", max(0, offset - limit)))
    links.append({"href": f"{_base(request)}/collections/{layer.id}", "rel": "collection", "type": JSON})
    return _json(
        {
            "type": "FeatureCollection",
            "features": page,
            "numberMatched": len(features),
            "numberReturned": len(page),
            "links": links,
        },
        GEOJSON,
    )


@router.get("/collections/{collection_id}/items/{feature_id}", responses=REFUSALS)
async def item(
    request: Request,
    reader: ReaderDep,
    conn: Conn,
    collection_id: CollectionId,
    feature_id: FeatureId,
    datetime: Datetime = None,
    f: Format = None,
) -> Response:
    """One feature (of the layer built over `datetime`, for aggregates)."""
    _only(request, {"datetime", "f"})
    layer = _layer_for(reader, collection_id)
    for feature in await _features(request, reader, conn, layer):
        if feature["id"] == feature_id:
            base = f"{_base(request)}/collections/{layer.id}"
            links = [
                {"href": f"{base}/items/{feature_id}", "rel": "self", "type": GEOJSON},
                {"href": base, "rel": "collection", "type": JSON},
            ]
            return _json({**feature, "links": links}, GEOJSON)
    raise HTTPException(status.HTTP_404_NOT_FOUND, "no such feature")
