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
    "sanic_cors", "sanic_ext", "ruamel", "pykwalify", "jsonschema", "networkx", "numpy", "scipy", "sklearn",
    "PIL", "h5py", "tensorflow_text", "tensorflow_probability", "onnx", "onnxruntime", "boto3", "botocore",
    "redis", "pika", "aio_pika", "kafka", "pymongo", "dask", "prompt_toolkit", "questionary", "tarsafe",
)
_add = warnings.filterwarnings


def _ours() -> None:
    for module in THIRD_PARTY:
        for category in (DeprecationWarning, PendingDeprecationWarning):
            _add("ignore", category=category, module=module + r"(\.|$)")


def _keep_ours_first(*args, **kwargs):
    """Libraries add filters of their own at import time, in front of ours: sanic/app.py
    does filterwarnings("once", category=DeprecationWarning), and SQLAlchemy the same for
    its own. Ours go back in front after each such call (warnings moves a repeated filter
    instead of adding it twice), so what they would show once stays hidden."""
    _add(*args, **kwargs)
    _ours()


_ours()
warnings.filterwarnings = _keep_ours_first
