"""``backbeat recommend serve-model``: one registered model behind a small HTTP API.

    GET /health                              the model being served (name, version)
    GET /v1/users/{user}/recommendations?n=  the user's top items
    GET /v1/items/{item}/similar?n=          nearest items

The app serves the registry's ``production`` version (else ``latest``, or a pinned
number) and checks the registry on each request (one small file read), so
``backbeat recommend train --promote`` or a rollback takes effect without a
restart. Inference runs in a worker thread (``predict_async``'s rule). Errors use
the service's error shape.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse

from backbeat.errors import BackbeatError, NotFound
from backbeat.recommend._registry import ModelRegistry

__all__ = ["create_model_app"]


class _Serving:
    def __init__(self, registry: ModelRegistry, name: str, version: str | int) -> None:
        self.registry, self.name, self.version = registry, name, version
        self._loaded: tuple[int, Any] | None = None
        self._lock = asyncio.Lock()

    def _wanted(self) -> int:
        if self.version != "production":
            return self.registry.resolve(self.name, self.version).version
        try:
            return self.registry.resolve(self.name, "production").version
        except NotFound:
            return self.registry.resolve(self.name, "latest").version

    async def model(self) -> tuple[int, Any]:
        async with self._lock:
            wanted = await asyncio.to_thread(self._wanted)
            if self._loaded is None or self._loaded[0] != wanted:
                model = await asyncio.to_thread(self.registry.get_model, self.name, wanted)
                self._loaded = (wanted, model)
            return self._loaded


def create_model_app(root: str | Path, name: str, version: str | int = "production") -> FastAPI:
    """A FastAPI app serving model ``name`` from the registry at ``root``."""
    serving = _Serving(ModelRegistry(root), name, version)
    app = FastAPI(title=f"backbeat model server: {name}")

    @app.exception_handler(BackbeatError)
    async def _error(request: Request, exc: BackbeatError) -> JSONResponse:
        body = {"error": {"status": exc.http_status, "message": exc.message, "code": exc.code}}
        return JSONResponse(body, status_code=exc.http_status)

    @app.get("/health")
    async def health() -> dict[str, Any]:
        number, model = await serving.model()
        return {"status": "ok", "model": name, "version": number, "kind": type(model).__name__}

    @app.get("/v1/users/{user}/recommendations")
    async def recommendations(
        user: str, n: Annotated[int, Query(ge=1, le=500)] = 10
    ) -> dict[str, Any]:
        number, model = await serving.model()
        items = await asyncio.to_thread(model.recommend, user, n)
        return {"version": number, "items": [{"id": i, "score": s} for i, s in items]}

    @app.get("/v1/items/{item}/similar")
    async def similar(item: str, n: Annotated[int, Query(ge=1, le=500)] = 10) -> dict[str, Any]:
        number, model = await serving.model()
        items = await asyncio.to_thread(model.similar_items, item, n)
        return {"version": number, "items": [{"id": i, "score": s} for i, s in items]}

    return app
