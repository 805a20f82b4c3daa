"""rasa_sdk's plugin package: rasa_sdk imports `rasa_sdk_plugins` and calls
`init_hooks(manager)` when the action server starts (rasa_sdk/plugin.py). The
hook starts the action server's background work with it (actions/background.py)."""
from __future__ import annotations

import pluggy

hookimpl = pluggy.HookimplMarker("rasa_sdk")


class BackgroundJobs:
    @hookimpl
    def attach_sanic_app_extensions(self, app) -> None:
        from actions.background import start_background_jobs, stop_background_jobs

        async def start(_app, _loop) -> None:
            start_background_jobs()

        async def stop(_app, _loop) -> None:
            stop_background_jobs()

        app.register_listener(start, "after_server_start")
        app.register_listener(stop, "before_server_stop")


def init_hooks(manager: pluggy.PluginManager) -> None:
    manager.register(BackgroundJobs())
