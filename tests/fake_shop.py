"""A small shop with an HTTP API, as a seller's own web shop would have (the API
``vendor_adapter.ShopCatalog`` and ``ShopSync`` speak): products with stock, orders from
every channel. Served for real by uvicorn on a loopback socket bound before it starts."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


@dataclass
class FakeShop:
    products: dict[str, dict[str, Any]]  # sku -> title, category, price, currency, on_hand
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    down: bool = False  # answer 503 to everything, as a shop being deployed does

    def stock(self, sku: str) -> int:
        taken = sum(
            o["quantity"]
            for o in self.orders.values()
            if o["sku"] == sku and o["status"] != "cancelled"
        )
        return int(self.products[sku]["on_hand"]) - taken

    def sell(self, order_id: str, sku: str, quantity: int, channel: str) -> bool:
        if order_id in self.orders:
            return True
        if self.stock(sku) < quantity:
            return False
        self.orders[order_id] = {
            "id": order_id,
            "sku": sku,
            "quantity": quantity,
            "channel": channel,
            "status": "confirmed",
        }
        return True

    def app(self) -> Starlette:
        async def products(_: Request) -> Response:
            return JSONResponse(
                [
                    {
                        **{k: v for k, v in p.items() if k != "on_hand"},
                        "sku": s,
                        "stock": self.stock(s),
                    }
                    for s, p in self.products.items()
                ]
            )

        async def orders(request: Request) -> Response:
            channel = request.query_params.get("channel")
            return JSONResponse(
                [o for o in self.orders.values() if channel in (None, o["channel"])]
            )

        async def put_order(request: Request) -> Response:
            body = await request.json()
            ok = self.sell(
                request.path_params["id"], body["sku"], int(body["quantity"]), body["channel"]
            )
            return JSONResponse({"ok": ok}, status_code=200 if ok else 409)

        async def set_status(request: Request) -> Response:
            order = self.orders.get(request.path_params["id"])
            if order is None:
                return JSONResponse({"error": "no such order"}, status_code=404)
            order["status"] = (await request.json())["status"]
            return JSONResponse(order)

        app = Starlette(routes=[
            Route("/products", products), Route("/orders", orders),
            Route("/orders/{id}", put_order, methods=["PUT"]),
            Route("/orders/{id}/status", set_status, methods=["POST"]),
        ])  # fmt: skip

        async def gate(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] == "http" and self.down:
                await JSONResponse({"error": "down"}, status_code=503)(scope, receive, send)
                return
            await app(scope, receive, send)

        return gate  # type: ignore[return-value]

    @contextlib.asynccontextmanager
    async def serving(self) -> AsyncIterator[str]:
        """Serve on a free loopback port (listening before this returns); yields its URL."""
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        server = uvicorn.Server(uvicorn.Config(self.app(), log_level="warning", lifespan="off"))
        task = asyncio.create_task(server.serve(sockets=[sock]))
        try:
            yield f"http://127.0.0.1:{sock.getsockname()[1]}"
        finally:
            server.should_exit = True
            await asyncio.wait_for(task, 10)
            sock.close()
