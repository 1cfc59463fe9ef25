"""`POST /segments/{id}/refresh`: ask Dagster to recompute one segment now; answers the run id.

A criteria segment runs `criteria_segments_job` on its partition (the segment id, added first
when the sensor has not yet); a SQL (`dbt`) segment runs `segments_refresh` subset to its model
and its `segment_membership/<model>` asset. The run is launched through the GraphQL API of the
Dagster webserver at `MURMUR_DAGSTER_URL` (unset: the local stack's `dagster` service). 503 when
Dagster is not configured or cannot be reached, 409 when the segment cannot be refreshed (retired,
or its job is not in the loaded code location), 502 when Dagster refuses the launch.
"""

from __future__ import annotations

from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel

from murmur.api import crud
from murmur.api.deps import Editor, Engine, get_settings_dep
from murmur.api.errors import conflict
from murmur.api.types import IdPath
from murmur.db.tables import segments
from murmur.domain.audit import audit
from murmur.domain.dbt_segments import (
    ACTIVE,
    CRITERIA_JOB,
    CRITERIA_PARTITIONS,
    MEMBERSHIP_PREFIX,
    REFRESH_JOB,
)
from murmur.settings import Settings

router = APIRouter(prefix="/segments", tags=["segments"])
TIMEOUT_S = 15.0

_REPOSITORIES = """
query { repositoriesOrError { __typename
  ... on RepositoryConnection { nodes { name location { name } jobs { name } } }
  ... on PythonError { message } } }
"""
_ADD_PARTITION = """
mutation($repo: RepositorySelector!, $name: String!, $key: String!) {
  addDynamicPartition(repositorySelector: $repo, partitionsDefName: $name, partitionKey: $key) {
    __typename ... on Error { message } } }
"""
_LAUNCH = """
mutation($params: ExecutionParams!) { launchRun(executionParams: $params) {
  __typename ... on LaunchRunSuccess { run { runId } } ... on Error { message } } }
"""


class RefreshOut(BaseModel):
    segment_id: int
    run_id: str
    job_name: str
    partition_key: str | None
    run_url: str


class DagsterUnavailable(RuntimeError):
    """The webserver cannot be reached or answers no GraphQL (503)."""


class DagsterRefused(RuntimeError):
    """Dagster answered but refused the request (its message is kept)."""


def _graphql(url: str, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    try:
        response = httpx.post(
            f"{url.rstrip('/')}/graphql",
            json={"query": query, "variables": variables or {}},
            timeout=TIMEOUT_S,
        )
    except httpx.HTTPError as exc:
        raise DagsterUnavailable(f"{type(exc).__name__}: {exc}") from None
    if response.status_code != 200:
        raise DagsterUnavailable(f"HTTP {response.status_code} from {url}/graphql")
    try:
        body = response.json()
    except ValueError:
        raise DagsterUnavailable(f"{url}/graphql did not answer JSON") from None
    if body.get("errors"):
        raise DagsterRefused("; ".join(str(e.get("message")) for e in body["errors"]))
    data: dict[str, Any] = body["data"]
    return data


def _find_job(url: str, job: str) -> dict[str, str]:
    """The repository selector of the code location that has `job`."""
    result = _graphql(url, _REPOSITORIES)["repositoriesOrError"]
    if result["__typename"] != "RepositoryConnection":
        raise DagsterRefused(str(result.get("message", result["__typename"])))
    for repo in result["nodes"]:
        if any(j["name"] == job for j in repo["jobs"]):
            return {
                "repositoryLocationName": repo["location"]["name"],
                "repositoryName": repo["name"],
            }
    raise LookupError(job)


def launch(
    url: str,
    job: str,
    *,
    partition: str | None,
    assets: list[list[str]] | None,
    tags: dict[str, str],
) -> str:
    """Launch `job` (one partition, or a subset of its assets) and return the run id."""
    repo = _find_job(url, job)
    if partition is not None:
        added = _graphql(
            url, _ADD_PARTITION, {"repo": repo, "name": CRITERIA_PARTITIONS, "key": partition}
        )["addDynamicPartition"]
        if added["__typename"] not in (
            "AddDynamicPartitionSuccess",
            "DuplicateDynamicPartitionError",
        ):
            raise DagsterRefused(str(added.get("message", added["__typename"])))
        tags = {**tags, "dagster/partition": partition}
    selector: dict[str, Any] = {**repo, "jobName": job}
    if assets is not None:
        selector["assetSelection"] = [{"path": path} for path in assets]
    params = {
        "selector": selector,
        "runConfigData": {},
        "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in tags.items()]},
    }
    result = _graphql(url, _LAUNCH, {"params": params})["launchRun"]
    if result["__typename"] == "InvalidSubsetError":
        raise LookupError(f"{job} has no asset {' or '.join('/'.join(a) for a in assets or [])}")
    if result["__typename"] != "LaunchRunSuccess":
        raise DagsterRefused(f"{result['__typename']}: {result.get('message', '')}".strip())
    return str(result["run"]["runId"])


@router.post("/{segment_id}/refresh", status_code=202, response_model=RefreshOut)
def refresh_segment(
    segment_id: IdPath,
    principal: Editor,
    engine: Engine,
    settings: Annotated[Settings, Depends(get_settings_dep)],
) -> dict[str, Any]:
    """Ask Dagster to recompute this segment's membership now (editor role); see the module."""
    with engine.connect() as conn:
        row = crud.get_one(conn, segments, principal.account_id, segment_id, "segment")
    if row.get("status", ACTIVE) != ACTIVE:
        raise conflict(f"segment {segment_id} is {row['status']}: it is no longer computed")
    partition: str | None = None
    assets: list[list[str]] | None = None
    if row["kind"] == "dbt":
        job, model = REFRESH_JOB, str(row["dbt_model"])
        assets = [[model], [MEMBERSHIP_PREFIX, model]]
    else:
        job, partition = CRITERIA_JOB, str(segment_id)
    url = settings.resolved().dagster_url
    if not url:
        raise HTTPException(
            503,
            "Dagster is not configured: set MURMUR_DAGSTER_URL to the Dagster webserver "
            "or run `murmur stack up` (its `dagster` service)",
        )
    tags = {"murmur/segment_id": str(segment_id), "murmur/requested_by": principal.actor}
    try:
        run_id = launch(url, job, partition=partition, assets=assets, tags=tags)
    except DagsterUnavailable as exc:
        raise HTTPException(503, f"Dagster cannot be reached at {url}: {exc}") from None
    except LookupError as exc:
        raise conflict(
            f"segment {segment_id} cannot be refreshed: the code location at {url} has {exc}"
            " (reload it after adding a segment model)"
        ) from None
    except DagsterRefused as exc:
        raise HTTPException(502, f"Dagster refused to launch {job}: {exc}") from None
    with engine.begin() as conn:
        details = {"run_id": run_id, "job": job}
        audit(
            conn,
            principal.account_id,
            principal.actor,
            "segment.refresh",
            "segment",
            segment_id,
            details,
        )
    return {
        "segment_id": segment_id,
        "run_id": run_id,
        "job_name": job,
        "partition_key": partition,
        "run_url": f"{url.rstrip('/')}/runs/{run_id}",
    }
