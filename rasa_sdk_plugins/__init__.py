"""Hooks for the rasa-sdk action server.

rasa_sdk/plugin.py imports a package of exactly this name, if it is importable, and
calls `init_hooks(manager)`; `rasa run actions` (and actions/server.py, which builds
its own app) then calls every `attach_sanic_app_extensions(app)` before serving. That
is the action server's startup hook: the token guard (token_guard.py) is attached, or
the server refuses to start; background jobs (imago_core/service.py) start and
stop with the server, not on a first action.
"""
from __future__ import annotations

import pluggy

hookimpl = pluggy.HookimplMarker("rasa_sdk")


class TokenGuard:
    # First, so that a server without its token stops before anything else is attached.
    @hookimpl(tryfirst=True)
    def attach_sanic_app_extensions(self, app) -> None:
        from rasa_sdk_plugins.token_guard import guard_from_settings

        guard_from_settings(app)


class BackgroundJobs:
    @hookimpl
    def attach_sanic_app_extensions(self, app) -> None:
        from imago_core.service import start_background_jobs, stop_background_jobs

        async def start(_app, _loop) -> None:
            start_background_jobs()

        async def stop(_app, _loop) -> None:
            stop_background_jobs()

        app.register_listener(start, "after_server_start")
        app.register_listener(stop, "before_server_stop")


def init_hooks(manager: pluggy.PluginManager) -> None:
    manager.register(TokenGuard())
    manager.register(BackgroundJobs())
