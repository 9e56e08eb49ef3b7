"""`python -m services.notify.fakes {esms|viettel|zalo|sink} --port N [--callback-url U]`."""

from __future__ import annotations

import argparse
from collections.abc import Callable

import uvicorn
from fastapi import FastAPI

from services.notify.fakes import esms_app, receipt_sink, viettel_app, zalo_app


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m services.notify.fakes")
    parser.add_argument("fake", choices=["esms", "viettel", "zalo", "sink"])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8100)
    parser.add_argument("--callback-url", default=None)
    args = parser.parse_args()
    factories: dict[str, Callable[[], FastAPI]] = {
        "esms": lambda: esms_app.create_app(callback_url=args.callback_url),
        "viettel": lambda: viettel_app.create_app(callback_url=args.callback_url),
        "zalo": lambda: zalo_app.create_app(callback_url=args.callback_url),
        "sink": receipt_sink.create_app,
    }
    uvicorn.run(factories[args.fake](), host=args.host, port=args.port)


if __name__ == "__main__":
    main()
