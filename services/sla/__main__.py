from services.runtime.main import serve
from services.sla.app import SlaSettings, build_app

settings = SlaSettings()
serve(build_app(settings), settings)
