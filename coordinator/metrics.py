"""``GET /metrics``: the whole fleet in the Prometheus text format (shared/metrics.py).

One scrape of any coordinator sees every worker host: workers count their sends in Redis and
the rest is read from the database. With ``MIKOMI_METRICS_TOKEN`` set, the scraper must send
it as a bearer token; without it the endpoint is open (keep it behind the reverse proxy).
"""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request, Response

from coordinator.dependencies import DB
from coordinator.errors import Unauthorized
from shared import metrics
from shared.config import get_settings

router = APIRouter(tags=["operations"])

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@router.get("/metrics", response_class=Response)
def prometheus_metrics(request: Request, db: DB) -> Response:
    expected = get_settings().metrics_token
    if expected:
        sent = request.headers.get("authorization", "")
        if not hmac.compare_digest(sent.encode(), f"Bearer {expected}".encode()):
            raise Unauthorized("メトリクスのトークンが正しくありません")
    return Response(metrics.render(db), media_type=CONTENT_TYPE)
