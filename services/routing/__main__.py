from services.routing.app import RoutingSettings, build_app
from services.runtime.main import serve

settings = RoutingSettings()
serve(build_app(settings), settings)
