"""Loaded by every Python that scripts/run.sh starts (it puts this folder on PYTHONPATH):
hides third-party deprecation warnings, by the module they are raised for and their
category, before Rasa's imports raise them (pkg_resources, distutils' LooseVersion,
pyparsing through matplotlib, jax through TensorFlow, SQLAlchemy 2.0's MovedIn20Warning).

Only the packages listed are silenced, and only deprecations: the project's own modules
(imago_core, actions, extensions, web) keep every warning, and so does anything new.
"""
import warnings

THIRD_PARTY = (
    "pkg_resources", "setuptools", "distutils", "rasa", "rasa_sdk", "sanic", "sanic_routing", "sanic_jinja2",
    "tensorflow", "keras", "jax", "matplotlib", "pyparsing", "google", "absl", "sqlalchemy", "apscheduler",
    "aiohttp", "websockets", "socketio", "engineio", "tensorflow_hub", "tensorflow_addons", "flatbuffers",
)
for _module in THIRD_PARTY:
    for _category in (DeprecationWarning, PendingDeprecationWarning):
        warnings.filterwarnings("ignore", category=_category, module=_module + r"(\.|$)")
