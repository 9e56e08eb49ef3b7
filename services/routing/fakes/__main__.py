"""`python -m services.routing.fakes [--port N]`: the stand-in postal service."""

from __future__ import annotations

import argparse
import os

import uvicorn

from services.routing.fakes import postal_app


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m services.routing.fakes")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8110")))
    args = parser.parse_args()
    uvicorn.run(postal_app.create_app(), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
