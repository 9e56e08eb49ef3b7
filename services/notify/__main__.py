from services.notify.app import NotifySettings, build_app
from services.runtime.main import serve

settings = NotifySettings()
serve(build_app(settings), settings)
