"""`python -m services.intake.fakes [--port N]`: the stand-in national portal."""

from __future__ import annotations

import argparse
import os

import uvicorn

from services.intake.fakes import dvcqg_app


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m services.intake.fakes")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8110)
    args = parser.parse_args()
    app = dvcqg_app.create_app(
        os.environ.get("FAKE_DVCQG_USERNAME"), os.environ.get("FAKE_DVCQG_PASSWORD")
    )
    uvicorn.run(app, host=args.host, port=args.port)


if __name__ == "__main__":
    main()
