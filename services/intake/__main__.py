"""Run intake: one process, or ``WORKERS`` uvicorn worker processes sharing the port."""

from services.intake.app import IntakeSettings, build_app
from services.runtime.main import serve
from services.runtime.settings import refuse_insecure

settings = IntakeSettings()
refuse_insecure(settings)
if settings.workers == 1:
    serve(build_app(settings), settings)
else:
    import uvicorn

    uvicorn.run(
        "services.intake.app:app_factory",
        factory=True,
        workers=settings.workers,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        loop=settings.event_loop,
        http="httptools",
        timeout_graceful_shutdown=10,
    )
