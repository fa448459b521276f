"""/exports: k-respecting aggregate downloads in GeoJSON, CSV or Parquet."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel

from fleetpilot.api import policy
from fleetpilot.api.deps import REFUSALS, Allowed, Conn, DayRange
from fleetpilot.api.errors import invalid
from fleetpilot.api.exports.formats import MEDIA_TYPES, Format, write
from fleetpilot.api.exports.service import DATASETS
from fleetpilot.api.policy import Capability

router = APIRouter(prefix="/exports", tags=["exports"], responses=REFUSALS)
Exports = Allowed(Capability.EXPORTS)
DatasetName = Literal["segment_hotspots", "cell_hotspots", "route_efficiency"]
Kind = Literal["harsh_brake", "harsh_accel", "harsh_corner", "speeding"]


class DatasetOut(BaseModel):
    name: str
    description: str
    formats: list[str]
    columns: list[str]
    kinds: list[str]


@router.get("", response_model=list[DatasetOut])
async def datasets(_: Exports) -> list[DatasetOut]:
    """The data sets that can be downloaded, and in which formats."""
    return [
        DatasetOut(
            name=d.name, description=d.description, formats=list(MEDIA_TYPES), columns=d.columns, kinds=list(d.kinds)
        )
        for d in DATASETS.values()
    ]


@router.get(
    "/{dataset}",
    response_class=Response,
    responses={
        200: {"content": {t: {} for t in MEDIA_TYPES.values()}, "description": "the file"},
        422: {"description": "unknown format or kind for this data set"},
    },
)
async def download(
    access: Exports,
    conn: Conn,
    dataset: Annotated[DatasetName, Path()],
    days: DayRange,
    format: Annotated[Format, Query()] = "csv",
    kind: Kind = "harsh_brake",
) -> Response:
    """One data set over [from, to) as a file; groups under k shifts or k people are not in it."""
    chosen = DATASETS[dataset]
    if chosen.kinds and kind not in chosen.kinds:
        raise invalid(("query", "kind"), f"{dataset} is available for kinds {', '.join(chosen.kinds)}", kind)
    scope = await policy.aggregate_scope(conn, access, days)
    rows = await chosen.build(conn, scope, kind)
    filename = f"fleetpilot-{dataset}-{scope.start}-{scope.end}.{format}"
    return Response(
        write(format, rows, chosen.columns),
        media_type=MEDIA_TYPES[format],
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
