from services.intake.app import IntakeSettings, build_app
from services.runtime.main import serve

settings = IntakeSettings()
serve(build_app(settings), settings)
